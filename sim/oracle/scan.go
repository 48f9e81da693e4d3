package oracle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unsafe"
)

// A person is shown more than pictures: any identifier or secret of another
// account in a response to a user — its account id, one of its devices'
// ids, its user token or a device token — is that account's data, wherever
// it stands (a known field, a field herd does not know, an error body). The
// scan below finds herd's names in a response body without decoding it:
// one pass over the bytes for the run's namespace (every name and secret of
// the run carries it) and one for names of other herd runs. Only when a
// name of another account turns up does it walk the JSON to say where.

// hit is a herd name found in a body.
type hit struct {
	off   int
	name  Name
	owner int // account index of this run; -1 for another run's name
}

// scanNames calls fn for every herd name in s that is not viewer's own (an
// account index of this run, or -1) and does not appear in echo (what the
// request itself said: a refusal may repeat it). It stops when fn returns
// false.
func (o *Oracle) scanNames(s string, viewer int, echo string, fn func(hit) bool) {
	ns := o.names.ns
	for i := 0; i < len(s); {
		j := strings.Index(s[i:], ns)
		if j < 0 {
			break
		}
		pos := i + j
		nm, ok := o.names.parseAt(s, pos)
		if !ok {
			i = pos + 1
			continue
		}
		i = pos + len(nm.Text)
		owner, ok := o.ownerOf(nm)
		if !ok || owner == viewer || strings.Contains(echo, nm.Text) {
			continue
		}
		if !fn(hit{off: pos, name: nm, owner: owner}) {
			return
		}
	}
	for _, mark := range [...]string{markDevice, markAcct} {
		for i := NamespaceLen; i < len(s); {
			j := strings.Index(s[i:], mark)
			if j < 0 {
				break
			}
			pos := i + j - NamespaceLen
			i += j + 1
			if s[pos:pos+NamespaceLen] == ns || (pos > 0 && isIDByte(s[pos-1])) {
				continue
			}
			nm, ok := o.names.parseAt(s, pos)
			if !ok || !nm.Foreign() || strings.Contains(echo, nm.Text) {
				continue
			}
			if !fn(hit{off: pos, name: nm, owner: -1}) {
				return
			}
		}
	}
}

// ownerOf returns the account of this run that a name belongs to; -1 for
// another run's name; false for a name of this run's namespace that names
// nothing herd made (a camera beyond the fleet).
func (o *Oracle) ownerOf(nm Name) (int, bool) {
	if nm.Foreign() {
		return -1, true
	}
	switch nm.Kind {
	case NameDevice, NameDeviceToken:
		if nm.Index >= o.fleet.Cameras() {
			return 0, false
		}
		return o.fleet.AccountOf(nm.Index), true
	case NameAccount, NameUserToken:
		if nm.Index >= o.fleet.Accounts() {
			return 0, false
		}
		return nm.Index, true
	}
	return 0, false
}

func isIDByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

// viewerIndex is the account index of viewer, or -1 when it is not an
// account of this run.
func (o *Oracle) viewerIndex(viewer string) int {
	if a, ok := o.names.ParseAccount(viewer); ok {
		return a
	}
	return -1
}

// hasForeign reports whether body holds a name of an account other than
// viewer's that echo does not repeat. It allocates nothing.
func (o *Oracle) hasForeign(body []byte, viewer int, echo string) bool {
	found := false
	o.scanNames(bytesString(body), viewer, echo, func(hit) bool { found = true; return false })
	return found
}

// bytesString views b as a string without copying; b must not change while
// the string is in use, and nothing kept may point into it.
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// CheckBody checks a response body viewer was shown (anything but a sealed
// thumbnail or frame) for names of other accounts: each JSON value holding
// one is cross_account, with its JSON path as evidence (a body that is not
// JSON is one value). Names the request itself carried (echo: its path and
// query) are not counted, since a refusal may repeat what was asked for.
// skip, when set, passes over values already reported by a check that
// understood them (an event CheckListed flagged). It returns how many
// violations it reported, and allocates nothing when there are none.
func (o *Oracle) CheckBody(viewer string, body []byte, echo, path string, skip func(jsonPath string) bool) int {
	v := o.viewerIndex(viewer)
	if !o.hasForeign(body, v, echo) {
		return 0
	}
	n := 0
	o.foreignValues(body, v, echo, func(jsonPath string, hits []hit) {
		if skip != nil && skip(jsonPath) {
			return
		}
		n++
		o.Report(o.exposed(CrossAccount, viewer, hits, path, jsonPath))
		for _, h := range hits {
			cam := -1
			if h.owner >= 0 && (h.name.Kind == NameDevice || h.name.Kind == NameDeviceToken) {
				cam = h.name.Index
			}
			o.expose(SeenData, viewer, h.owner, cam)
		}
	})
	return n
}

// exposed is the evidence of other accounts' names at jsonPath. It never
// carries a secret, only what it was and whose.
func (o *Oracle) exposed(c Class, viewer string, hits []hit, path, jsonPath string) Evidence {
	e := Evidence{Class: c, Viewer: viewer, Path: path, JSONPath: jsonPath}
	var what []string
	for _, h := range hits {
		owner := o.ownerName(h)
		if e.Owner == "" {
			e.Owner = owner
		}
		desc := h.name.Kind.String()
		switch {
		case h.name.Kind.Secret():
			if h.name.Kind == NameDeviceToken {
				desc = "the device token of " + o.names.Device(h.name.Index)
				if e.Device == "" {
					e.Device = o.names.Device(h.name.Index)
				}
			} else {
				desc = "the user token of " + o.names.Account(h.name.Index)
			}
		default:
			desc += " " + strings.Clone(h.name.Text)
			if h.name.Kind == NameDevice && e.Device == "" {
				e.Device = strings.Clone(h.name.Text)
			}
		}
		what = append(what, desc+" ("+owner+")")
	}
	if len(what) > 4 {
		what = append(what[:4], fmt.Sprintf("and %d more", len(what)-4))
	}
	e.Detail = fmt.Sprintf("account %s was shown %s at %s", viewer, strings.Join(what, ", "), jsonPath)
	return e
}

// ownerName names the account a hit belongs to, for evidence.
func (o *Oracle) ownerName(h hit) string {
	if h.owner < 0 {
		return "an account of herd run " + h.name.Run
	}
	return o.names.Account(h.owner)
}

// foreignValues walks body as JSON and calls fn once per value (a string,
// or an object key) holding names of other accounts, with its path. A body
// that is not JSON, or the part after a syntax error, is one value at path
// "body".
func (o *Oracle) foreignValues(body []byte, viewer int, echo string, fn func(jsonPath string, hits []hit)) {
	collect := func(s string) []hit {
		var hs []hit
		o.scanNames(s, viewer, echo, func(h hit) bool {
			h.name.Text = strings.Clone(h.name.Text)
			hs = append(hs, h)
			return true
		})
		return hs
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || (trimmed[0] != '{' && trimmed[0] != '[') {
		if hs := collect(bytesString(body)); len(hs) > 0 {
			fn("body", hs)
		}
		return
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var stack []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				if hs := collect(bytesString(body[min(int(dec.InputOffset()), len(body)):])); len(hs) > 0 {
					fn(pathOf(stack)+" (after a JSON error)", hs)
				}
			}
			return
		}
		top := len(stack) - 1
		// A key of an object: the next token is its value. (The key may
		// be a secret, so its own path stops at the object.)
		if key, isKey := tok.(string); isKey && top >= 0 && !stack[top].array && stack[top].wantKey {
			if hs := collect(key); len(hs) > 0 {
				fn(pathOf(stack)+" (a key)", hs)
			}
			stack[top].key, stack[top].wantKey = key, false
			continue
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				stack = append(stack, frame{array: t == '[', wantKey: t == '{', index: -1})
				if t == '[' {
					stack[len(stack)-1].index = 0
				}
				continue
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			if hs := collect(t); len(hs) > 0 {
				fn(pathOf(stack), hs)
			}
		}
		advance(stack)
	}
}

// frame is one level of a JSON walk: an array and the index of its next
// element, or an object, its current key, and whether a key comes next.
type frame struct {
	array   bool
	index   int
	key     string
	wantKey bool
}

// advance moves the innermost container past the value just read.
func advance(stack []frame) {
	if len(stack) == 0 {
		return
	}
	f := &stack[len(stack)-1]
	if f.array {
		f.index++
	} else {
		f.wantKey = true
	}
}

// pathOf writes the path of the value being read: $.events[2].id.
func pathOf(stack []frame) string {
	var b strings.Builder
	b.WriteByte('$')
	for _, f := range stack {
		if f.array {
			// An open container's index stays on its element until the
			// element ends: it is the element being read.
			b.WriteString("[" + strconv.Itoa(f.index) + "]")
			continue
		}
		if f.wantKey {
			continue // between keys: the path stops at the object
		}
		if plainKey(f.key) {
			b.WriteString("." + f.key)
		} else {
			b.WriteString("[" + strconv.Quote(f.key) + "]")
		}
	}
	return b.String()
}

func plainKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// EventIndex returns i when jsonPath lies inside $.events[i], the way
// CheckBody writes paths of an Events-tab page; -1 otherwise.
func EventIndex(jsonPath string) int {
	rest, ok := strings.CutPrefix(jsonPath, "$.events[")
	if !ok {
		return -1
	}
	end := strings.IndexByte(rest, ']')
	if end <= 0 {
		return -1
	}
	i, err := strconv.Atoi(rest[:end])
	if err != nil {
		return -1
	}
	return i
}
