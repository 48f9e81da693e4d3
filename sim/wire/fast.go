package wire

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
)

// The fast paths below encode the frames a camera sends and decode the
// small frames a target sends back without reflection: they run for every
// event of hundreds of thousands of cameras, and encoding/json's reflection
// costs CPU, garbage and goroutine stack on that path. Whatever they cannot
// handle exactly as encoding/json would, they leave to encoding/json.

// AppendEvent appends the JSON of an event frame to dst.
func AppendEvent(dst []byte, id string, seq uint64, at int64, kind string, thumb []byte) []byte {
	dst = append(dst, `{"type":"event","id":`...)
	dst = appendString(dst, id)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, `,"at":`...)
	dst = strconv.AppendInt(dst, at, 10)
	dst = append(dst, `,"kind":`...)
	dst = appendString(dst, kind)
	dst = append(dst, `,"thumb":"`...)
	dst = base64.StdEncoding.AppendEncode(dst, thumb)
	return append(dst, `"}`...)
}

// AppendFrame appends the JSON of a live-view frame to dst.
func AppendFrame(dst []byte, req string, data []byte) []byte {
	dst = append(dst, `{"type":"frame","req":`...)
	dst = appendString(dst, req)
	dst = append(dst, `,"data":"`...)
	dst = base64.StdEncoding.AppendEncode(dst, data)
	return append(dst, `"}`...)
}

// appendString appends s as a JSON string; encoding/json handles anything
// that needs escaping.
func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s)
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// decodeFlat decodes a flat JSON object of plain strings and integers into
// m. It reports false, leaving the work to encoding/json, for anything else:
// escapes, nesting, floats, booleans, byte fields, keys it does not know
// exactly (encoding/json also matches keys case-insensitively).
func decodeFlat(b []byte, m *Message) bool {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return skipSpace(b, i+1) == len(b)
	}
	for {
		key, j, ok := plainString(b, i)
		if !ok {
			return false
		}
		i = skipSpace(b, j)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipSpace(b, i+1)
		if i >= len(b) {
			return false
		}
		if b[i] == '"' {
			lo, hi, j, ok := plainSpan(b, i)
			if !ok {
				return false
			}
			switch key {
			case "thumb", "data":
				// As encoding/json decodes a []byte: standard base64,
				// straight from the frame (a thumbnail per event).
				raw := make([]byte, base64.StdEncoding.DecodedLen(hi-lo))
				n, err := base64.StdEncoding.Decode(raw, b[lo:hi])
				if err != nil {
					return false
				}
				if key == "thumb" {
					m.Thumb = raw[:n]
				} else {
					m.Data = raw[:n]
				}
			case "type":
				m.Type = internType(string(b[lo:hi]))
			case "device":
				m.Device = string(b[lo:hi])
			case "account":
				m.Account = string(b[lo:hi])
			case "id":
				m.ID = string(b[lo:hi])
			case "kind":
				m.Kind = string(b[lo:hi])
			case "req":
				m.Req = string(b[lo:hi])
			default:
				return false
			}
			i = j
		} else {
			j := i
			if j < len(b) && b[j] == '-' {
				j++
			}
			for j < len(b) && b[j] >= '0' && b[j] <= '9' {
				j++
			}
			num := string(b[i:j])
			switch key {
			case "seq":
				v, err := strconv.ParseUint(num, 10, 64)
				if err != nil || (len(num) > 1 && num[0] == '0') {
					return false
				}
				m.Seq = v
			case "at", "retry_after_ms":
				v, err := strconv.ParseInt(num, 10, 64)
				if err != nil || len(num) > 1 && (num[0] == '0' || num[:2] == "-0") {
					return false
				}
				if key == "at" {
					m.At = v
				} else {
					m.RetryAfterMs = v
				}
			default:
				return false
			}
			i = j
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return false
		}
		if b[i] == '}' {
			return skipSpace(b, i+1) == len(b)
		}
		if b[i] != ',' {
			return false
		}
		i = skipSpace(b, i+1)
	}
}

// internType returns the constant for a known message type, so that
// decoding the frames a fleet receives by the million keeps no copies.
func internType(t string) string {
	for _, k := range [...]string{TypeAck, TypeNack, TypeLive, TypeWelcome, TypeEvent, TypeFrame, TypeHello} {
		if t == k {
			return k
		}
	}
	return t
}

// plainString reads a JSON string without escapes or control characters
// starting at b[i] == '"'; it returns the string and the index after it.
func plainString(b []byte, i int) (string, int, bool) {
	lo, hi, next, ok := plainSpan(b, i)
	if !ok {
		return "", 0, false
	}
	return string(b[lo:hi]), next, true
}

// plainSpan finds the JSON string at b[i] that needs no unescaping: its
// contents are b[lo:hi], and next is just past its closing quote.
func plainSpan(b []byte, i int) (lo, hi, next int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, 0, 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return i + 1, j, j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return 0, 0, 0, false
		}
	}
	return 0, 0, 0, false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
