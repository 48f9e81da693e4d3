package oracle

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"math/bits"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// KeySize is the length of a provenance key in bytes.
const KeySize = 32

// MACSize is the length of the truncated HMAC-SHA256 that ends every blob.
const MACSize = 16

// Key is the secret that makes provenance unforgeable: only a holder of the
// key can Seal a blob that Open accepts. It is random per run and never
// leaves herd, so a target cannot produce (or re-label) a valid blob. Every
// formatting of a Key (fmt, slog) is redacted. A Key must not be copied
// after first use; pass *Key around.
type Key struct {
	secret [KeySize]byte
	// pool holds *macState values: hmac states are expensive to create and
	// not safe to share, and 300k camera goroutines seal concurrently.
	pool sync.Pool
}

type macState struct {
	h   hash.Hash
	sum [sha256.Size]byte // Sum writes here, so a check allocates nothing
}

// NewKey returns a fresh random key from crypto/rand.
func NewKey() (*Key, error) {
	var b [KeySize]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("oracle: reading random key: %w", err)
	}
	return KeyFromBytes(b[:])
}

// NewKeyText is a fresh key as the hex text 'herd key' prints and
// --key-file reads.
func NewKeyText() (string, error) {
	k, err := NewKey()
	if err != nil {
		return "", err
	}
	text, err := k.MarshalText()
	return string(text), err
}

// KeyFromBytes returns the key whose bytes are b, as a worker receives it
// from its coordinator. b must be exactly KeySize bytes; it is copied.
func KeyFromBytes(b []byte) (*Key, error) {
	if len(b) != KeySize {
		return nil, fmt.Errorf("oracle: key of %d bytes, want %d", len(b), KeySize)
	}
	k := &Key{}
	copy(k.secret[:], b)
	k.pool.New = func() any { return &macState{h: hmac.New(sha256.New, k.secret[:])} }
	return k, nil
}

// Bytes returns a copy of the key's bytes. Never log them.
func (k *Key) Bytes() []byte { return slices.Clone(k.secret[:]) }

// MarshalText writes the key as hex: the form of a key file ('herd key')
// and of the key a coordinator hands its workers. It is the one encoding
// that shows the secret, so a Key goes only where the run's processes read
// it (a file of mode 0600, a pipe), never onto a command line or into a log.
func (k *Key) MarshalText() ([]byte, error) {
	out := make([]byte, hex.EncodedLen(KeySize))
	hex.Encode(out, k.secret[:])
	return out, nil
}

// RunKey is a run's key: read from path (--key-file, which the shards of
// one run share), or a fresh one when path is "". Its names (the run
// namespace, the fleet's tokens) derive from it, so a drill never meets an
// earlier drill's accounts.
func RunKey(path string) (*Key, error) {
	if path == "" {
		return NewKey()
	}
	k, err := ReadKeyFile(path)
	if err != nil {
		return nil, fmt.Errorf("--key-file: %w", err)
	}
	return k, nil
}

// ReadKeyFile reads a key file, as 'herd key' writes them.
func ReadKeyFile(path string) (*Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var k Key
	if err := k.UnmarshalText(b); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &k, nil
}

// UnmarshalText reads a key MarshalText wrote (surrounding space allowed).
func (k *Key) UnmarshalText(b []byte) error {
	raw, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return errors.New("oracle: a key is 64 hex digits (make one with 'herd key')")
	}
	nk, err := KeyFromBytes(raw)
	if err != nil {
		return err
	}
	k.secret = nk.secret
	k.pool.New = func() any { return &macState{h: hmac.New(sha256.New, k.secret[:])} }
	return nil
}

// ID names the key without revealing it: the first 8 bytes of the SHA-256
// of the key, in hex. Shards of one run must show the same ID.
func (k *Key) ID() string {
	sum := sha256.Sum256(k.secret[:])
	return hex.EncodeToString(sum[:8])
}

// String redacts the key.
func (k *Key) String() string { return "oracle.Key(redacted)" }

// GoString redacts the key.
func (k *Key) GoString() string { return k.String() }

// Format redacts the key for every verb, %x and %d included, which would
// otherwise print the secret through reflection.
func (k *Key) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// LogValue redacts the key in slog records.
func (k *Key) LogValue() slog.Value { return slog.StringValue(k.String()) }

// Kind says what a sealed blob is.
type Kind uint8

// Kinds of sealed blobs.
const (
	KindThumb Kind = 1 // an event's thumbnail
	KindFrame Kind = 2 // a live-view frame
)

// String returns "thumb", "frame" or "Kind(n)".
func (k Kind) String() string {
	switch k {
	case KindThumb:
		return "thumb"
	case KindFrame:
		return "frame"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Stamp is the provenance a blob carries: what produced it, for whom, when.
// For thumbnails Seq is the event's sequence number; for frames it is a
// per-camera frame counter. At is Unix milliseconds.
type Stamp struct {
	Kind    Kind
	Account string
	Device  string
	Seq     uint64
	At      int64
	// EventKind is the event's kind as the camera reported it ("motion"),
	// for thumbnails; empty for frames.
	EventKind string
}

// Errors of Open. Each says why a blob is not herd's genuine provenance;
// every one of them makes the blob forged.
var (
	ErrNotHerd   = errors.New("oracle: not herd's bytes")
	ErrTruncated = errors.New("oracle: truncated blob")
	ErrMalformed = errors.New("oracle: malformed blob")
	ErrBadMAC    = errors.New("oracle: bad MAC")
)

// Blob layout (big-endian):
//
//	0   magic "hrd\x02"
//	4   kind (1)
//	5   total length (4)
//	9   seq (8)
//	17  at (8)
//	25  len(account) (1), account
//	    len(device) (1), device
//	    len(event kind) (1), event kind
//	    filler derived from the stamp
//	-16 HMAC-SHA256(key, everything before), truncated to 16 bytes
//
// The total length is in the header so that a cut blob is reported as
// truncated rather than as a bad MAC.
const (
	magic     = "hrd\x02"
	fixedHead = 4 + 1 + 4 + 8 + 8 + 1 + 1 + 1
)

// MinSize returns the smallest blob Seal produces for s.
func MinSize(s Stamp) int {
	return fixedHead + len(s.Account) + len(s.Device) + len(s.EventKind) + MACSize
}

// Seal appends to dst a blob of exactly max(size, MinSize(s)) bytes carrying
// s: a header with the stamp, filler derived from the stamp (so the same
// stamp and size always give the same bytes: a re-sent event is
// byte-identical) and a MAC over everything before it. It allocates nothing
// beyond growing dst and is safe for concurrent use. Account and Device must
// be at most 255 bytes (herd/1 identifiers are at most 64).
func (k *Key) Seal(dst []byte, s Stamp, size int) []byte {
	if len(s.Account) > 255 || len(s.Device) > 255 || len(s.EventKind) > 255 {
		panic("oracle: Seal: account, device or event kind longer than 255 bytes")
	}
	n := max(size, MinSize(s))
	if uint64(n) > 1<<32-1 {
		panic("oracle: Seal: blob over 4 GiB")
	}
	start := len(dst)
	dst = slices.Grow(dst, n)[:start+n]
	b := dst[start:]
	copy(b, magic)
	b[4] = byte(s.Kind)
	binary.BigEndian.PutUint32(b[5:], uint32(n))
	binary.BigEndian.PutUint64(b[9:], s.Seq)
	binary.BigEndian.PutUint64(b[17:], uint64(s.At))
	p := 25
	b[p] = byte(len(s.Account))
	p += 1 + copy(b[p+1:], s.Account)
	b[p] = byte(len(s.Device))
	p += 1 + copy(b[p+1:], s.Device)
	b[p] = byte(len(s.EventKind))
	p += 1 + copy(b[p+1:], s.EventKind)
	fill(b[p:n-MACSize], b[:p])

	st := k.pool.Get().(*macState)
	st.h.Reset()
	st.h.Write(b[:n-MACSize])
	copy(b[n-MACSize:], st.h.Sum(st.sum[:0]))
	k.pool.Put(st)
	return dst
}

// Open verifies b and returns the stamp it carries. The error, if any, is
// ErrNotHerd, ErrTruncated, ErrMalformed or ErrBadMAC, possibly wrapped with
// detail.
func (k *Key) Open(b []byte) (Stamp, error) {
	v, err := k.open(b)
	if err != nil {
		return Stamp{}, err
	}
	return Stamp{Kind: v.kind, Account: string(v.account), Device: string(v.device), Seq: v.seq, At: v.at, EventKind: string(v.eventKind)}, nil
}

// view is an opened blob whose strings still point into it, so the checks
// can compare them without allocating.
type view struct {
	kind                       Kind
	account, device, eventKind []byte
	seq                        uint64
	at                         int64
}

func (k *Key) open(b []byte) (view, error) {
	switch {
	case len(b) == 0:
		return view{}, ErrNotHerd
	case len(b) < len(magic):
		if string(b) == magic[:len(b)] {
			return view{}, ErrTruncated
		}
		return view{}, ErrNotHerd
	case string(b[:len(magic)]) != magic:
		return view{}, ErrNotHerd
	case len(b) < fixedHead+MACSize:
		return view{}, ErrTruncated
	}
	n := binary.BigEndian.Uint32(b[5:])
	switch {
	case uint64(len(b)) < uint64(n):
		return view{}, ErrTruncated
	case uint64(len(b)) > uint64(n):
		return view{}, ErrMalformed
	}
	st := k.pool.Get().(*macState)
	st.h.Reset()
	st.h.Write(b[:len(b)-MACSize])
	ok := hmac.Equal(st.h.Sum(st.sum[:0])[:MACSize], b[len(b)-MACSize:])
	k.pool.Put(st)
	if !ok {
		return view{}, ErrBadMAC
	}
	// The MAC is good, so herd wrote this header; the bounds checks in
	// header only guard against a key that leaked into a hostile writer.
	v, ok := header(b)
	if !ok {
		return view{}, ErrMalformed
	}
	return v, nil
}

// header reads the stamp of a blob whose magic and length are right,
// without checking its MAC.
func header(b []byte) (view, bool) {
	v := view{kind: Kind(b[4]), seq: binary.BigEndian.Uint64(b[9:]), at: int64(binary.BigEndian.Uint64(b[17:]))}
	body := b[25 : len(b)-MACSize]
	var okA, okD, okK bool
	v.account, body, okA = lenPrefixed(body)
	v.device, body, okD = lenPrefixed(body)
	v.eventKind, _, okK = lenPrefixed(body)
	return v, okA && okD && okK && (v.kind == KindThumb || v.kind == KindFrame)
}

// foreignSeal reports which other herd run's account a blob that failed
// its MAC names, when its header is herd's and names one: bytes of an
// earlier drill against the same backend, sealed under that run's key,
// which this run cannot check but which are certainly not the viewer's.
func (k *Key) foreignSeal(b []byte, names *Names) (account string, ok bool) {
	if len(b) < fixedHead+MACSize || string(b[:len(magic)]) != magic || uint64(len(b)) != uint64(binary.BigEndian.Uint32(b[5:])) {
		return "", false
	}
	v, ok := header(b)
	if !ok {
		return "", false
	}
	nm, ok := names.Parse(string(v.account))
	if !ok || !nm.Foreign() || nm.Kind != NameAccount {
		return "", false
	}
	return nm.Text, true
}

func lenPrefixed(b []byte) (field, rest []byte, ok bool) {
	if len(b) < 1 || len(b) < 1+int(b[0]) {
		return nil, nil, false
	}
	return b[1 : 1+int(b[0])], b[1+int(b[0]):], true
}

// fill writes deterministic filler derived from head into dst. It is a
// wyrand stream: a few cycles per 8 bytes, because every event of every
// camera is sealed.
func fill(dst, head []byte) {
	s := uint64(0xcbf29ce484222325)
	for _, c := range head {
		s = (s ^ uint64(c)) * 0x100000001b3
	}
	for len(dst) >= 8 {
		s += 0xa0761d6478bd642f
		hi, lo := bits.Mul64(s, s^0xe7037ed1a0b428db)
		binary.LittleEndian.PutUint64(dst, hi^lo)
		dst = dst[8:]
	}
	if len(dst) > 0 {
		s += 0xa0761d6478bd642f
		hi, lo := bits.Mul64(s, s^0xe7037ed1a0b428db)
		var last [8]byte
		binary.LittleEndian.PutUint64(last[:], hi^lo)
		copy(dst, last[:])
	}
}
