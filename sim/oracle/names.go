package oracle

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

// Names is one run's identifier scheme: how herd spells the accounts,
// devices and secrets it provisions for the run, and how it recognises them
// wherever they turn up again.
//
// Every identifier and secret of a run starts with the run's namespace, a
// short string derived from the run's Key ("h" and ten hex digits), so that
// a drill never meets its own identifiers on a backend that has served
// earlier drills: a backend may keep what earlier runs stored, and their
// events are not this run's. Shards and workers of one run share the Key,
// so they share the namespace and the tokens.
//
//	account       h3f9a0c21b7.acct-0000042
//	device        h3f9a0c21b7.cam-00000117
//	event         h3f9a0c21b7.cam-00000117/17
//	device token  h3f9a0c21b7.dtok-117.<24 hex digits>
//	user token    h3f9a0c21b7.utok-42.<24 hex digits>
//
// Tokens carry the index of what they belong to and a MAC under a secret
// derived from the Key, so a token found in a response is recognised, and
// its owner known, without a table of every token of the fleet.
type Names struct {
	ns     string
	secret [sha256.Size]byte
}

// NamespaceLen is the length of a run namespace: "h" and ten hex digits.
const NamespaceLen = 11

// Markers of the kinds of name, after the namespace and its dot.
const (
	markDevice = ".cam-"
	markAcct   = ".acct-"
	markDevTok = ".dtok-"
	markUsrTok = ".utok-"
	// Minimum digits of a camera and an account number: ids keep the
	// widths herd has always printed.
	deviceDigits  = 8
	accountDigits = 7
	tokenMACHex   = 24
)

// Names returns the identifier scheme of the run whose key is k.
func (k *Key) Names() *Names {
	ns := hmac.New(sha256.New, k.secret[:])
	ns.Write([]byte("herd run namespace v1"))
	sum := ns.Sum(nil)
	n := &Names{ns: "h" + hex.EncodeToString(sum[:5])}
	tok := hmac.New(sha256.New, k.secret[:])
	tok.Write([]byte("herd fleet tokens v1"))
	copy(n.secret[:], tok.Sum(nil))
	return n
}

// Namespace returns the run's namespace.
func (n *Names) Namespace() string { return n.ns }

// Device is the device id of camera cam.
func (n *Names) Device(cam int) string { return n.ns + markDevice + pad(cam, deviceDigits) }

// Account is the id of account a.
func (n *Names) Account(a int) string { return n.ns + markAcct + pad(a, accountDigits) }

// DeviceToken is the secret camera cam presents to connect.
func (n *Names) DeviceToken(cam int) string { return n.token(markDevTok, 'd', cam) }

// UserToken is the secret of account a's app user.
func (n *Names) UserToken(a int) string { return n.token(markUsrTok, 'u', a) }

func (n *Names) token(mark string, kind byte, i int) string {
	return n.ns + mark + strconv.Itoa(i) + "." + n.tokenMAC(kind, i)
}

func (n *Names) tokenMAC(kind byte, i int) string {
	var msg [9]byte
	msg[0] = kind
	for j := range 8 {
		msg[1+j] = byte(uint64(i) >> (8 * j))
	}
	m := hmac.New(sha256.New, n.secret[:])
	m.Write(msg[:])
	return hex.EncodeToString(m.Sum(nil)[:tokenMACHex/2])
}

// NameKind says what a Name names.
type NameKind uint8

// Kinds of names.
const (
	NameAccount     NameKind = iota + 1 // an account id
	NameDevice                          // a device id
	NameDeviceToken                     // a device's secret
	NameUserToken                       // an app user's secret
)

// String says what k names, in words for evidence.
func (k NameKind) String() string {
	switch k {
	case NameAccount:
		return "account id"
	case NameDevice:
		return "device id"
	case NameDeviceToken:
		return "device token"
	case NameUserToken:
		return "user token"
	}
	return "name"
}

// Secret reports whether names of kind k are secrets, which evidence never
// prints.
func (k NameKind) Secret() bool { return k == NameDeviceToken || k == NameUserToken }

// Name is an identifier or secret herd made, found in some text.
type Name struct {
	Kind NameKind
	// Index is the camera (device, device token) or account (account,
	// user token) it names, in this run; -1 for another run's name.
	Index int
	// Run is the namespace of another herd run whose name this is; empty
	// for this run's.
	Run string
	// Text is the name as found (a secret included: never print it).
	Text string
}

// Foreign reports whether the name belongs to another herd run.
func (nm Name) Foreign() bool { return nm.Run != "" }

// ParseDevice returns the camera a device id of this run names.
func (n *Names) ParseDevice(s string) (int, bool) {
	nm, ok := n.parseAt(s, 0)
	if !ok || nm.Kind != NameDevice || nm.Foreign() || len(nm.Text) != len(s) {
		return 0, false
	}
	return nm.Index, true
}

// ParseAccount returns the account an account id of this run names.
func (n *Names) ParseAccount(s string) (int, bool) {
	nm, ok := n.parseAt(s, 0)
	if !ok || nm.Kind != NameAccount || nm.Foreign() || len(nm.Text) != len(s) {
		return 0, false
	}
	return nm.Index, true
}

// Parse recognises s as a whole herd name: this run's account, device or
// token (a token only with a valid MAC), or another run's account or
// device.
func (n *Names) Parse(s string) (Name, bool) {
	nm, ok := n.parseAt(s, 0)
	if !ok || len(nm.Text) != len(s) {
		return Name{}, false
	}
	return nm, true
}

// parseAt parses the name that starts at s[i:], if any. The name ends
// where its digits (or a token's MAC) end; what follows is not read.
func (n *Names) parseAt(s string, i int) (Name, bool) {
	if len(s)-i < NamespaceLen+1 || !isNamespace(s[i:i+NamespaceLen]) {
		return Name{}, false
	}
	ns := s[i : i+NamespaceLen]
	ours := ns == n.ns
	rest := s[i+NamespaceLen:]
	var kind NameKind
	var width int
	switch {
	case hasPrefix(rest, markDevice):
		kind, width, rest = NameDevice, deviceDigits, rest[len(markDevice):]
	case hasPrefix(rest, markAcct):
		kind, width, rest = NameAccount, accountDigits, rest[len(markAcct):]
	case ours && hasPrefix(rest, markDevTok):
		kind, rest = NameDeviceToken, rest[len(markDevTok):]
	case ours && hasPrefix(rest, markUsrTok):
		kind, rest = NameUserToken, rest[len(markUsrTok):]
	default:
		return Name{}, false
	}
	digits := 0
	for digits < len(rest) && rest[digits] >= '0' && rest[digits] <= '9' && digits < 12 {
		digits++
	}
	num := rest[:digits]
	idx, ok := number(num, width)
	if !ok {
		return Name{}, false
	}
	end := len(s) - len(rest) + digits
	if kind == NameDeviceToken || kind == NameUserToken {
		mac := rest[digits:]
		if len(mac) < 1+tokenMACHex || mac[0] != '.' {
			return Name{}, false
		}
		tk := byte('d')
		if kind == NameUserToken {
			tk = 'u'
		}
		want := n.tokenMAC(tk, idx)
		if !hmac.Equal([]byte(mac[1:1+tokenMACHex]), []byte(want)) {
			return Name{}, false
		}
		end += 1 + tokenMACHex
	}
	nm := Name{Kind: kind, Index: idx, Text: s[i:end]}
	if !ours {
		nm.Index, nm.Run = -1, ns
	}
	return nm, true
}

// number parses a camera or account number written with at least width
// digits (width 0 for a token's index): exactly one spelling per number,
// so "cam-000000117" is not camera 117.
func number(s string, width int) (int, bool) {
	if len(s) == 0 || len(s) < width || (len(s) > max(width, 1) && s[0] == '0') {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

func isNamespace(s string) bool {
	if len(s) != NamespaceLen || s[0] != 'h' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

func pad(n, width int) string {
	s := strconv.Itoa(n)
	for len(s) < width {
		s = "0" + s
	}
	return s
}
