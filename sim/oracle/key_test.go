package oracle

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestSealOpenRoundTrip(t *testing.T) {
	k := testKey(t)
	tests := []struct {
		name     string
		stamp    Stamp
		size     int
		wantSize int
	}{
		{"thumb 1 KiB", Stamp{KindThumb, "acct-0000042", "cam-00000117", 17, 1764412800123, ""}, 1024, 1024},
		{"frame 64 KiB", Stamp{KindFrame, "acct-1", "cam-9", 1, 1, ""}, 64 << 10, 64 << 10},
		{"size below minimum", Stamp{KindThumb, "a", "d", 1, 0, ""}, 0, fixedHead + 2 + MACSize},
		{"exact minimum", Stamp{KindThumb, "a", "d", 1, 0, ""}, fixedHead + 2 + MACSize, fixedHead + 2 + MACSize},
		{"odd size, filler tail", Stamp{KindThumb, "a", "d", 1, 0, ""}, 1001, 1001},
		{"longest ids and extremes", Stamp{KindFrame, strings.Repeat("a", 64), strings.Repeat("d/", 32), ^uint64(0), -1, ""}, 10, fixedHead + 128 + MACSize},
		{"empty ids", Stamp{KindThumb, "", "", 0, 0, ""}, 0, fixedHead + MACSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("prefix")
			b := k.Seal(bytes.Clone(prefix), tt.stamp, tt.size)
			if !bytes.HasPrefix(b, prefix) {
				t.Fatalf("Seal did not append to dst")
			}
			blob := b[len(prefix):]
			if got := len(blob); got != tt.wantSize {
				t.Errorf("len = %d, want %d", got, tt.wantSize)
			}
			got, err := k.Open(blob)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if got != tt.stamp {
				t.Errorf("Open = %+v, want %+v", got, tt.stamp)
			}
			if again := k.Seal(nil, tt.stamp, tt.size); !bytes.Equal(again, blob) {
				t.Errorf("sealing the same stamp twice gave different bytes")
			}
		})
	}
}

func TestSealFillerDiffers(t *testing.T) {
	k := testKey(t)
	a := k.Seal(nil, Stamp{KindThumb, "acct-1", "cam-1", 1, 5, ""}, 1024)
	b := k.Seal(nil, Stamp{KindThumb, "acct-1", "cam-1", 2, 5, ""}, 1024)
	// Filler starts after the header; distinct stamps must not share it, or a
	// target could not be told apart from one serving stale content.
	head := MinSize(Stamp{Account: "acct-1", Device: "cam-1"}) - MACSize
	if bytes.Equal(a[head:head+64], b[head:head+64]) {
		t.Errorf("two stamps produced the same filler")
	}
	if bytes.Count(a[head:len(a)-MACSize], []byte{0}) > 64 {
		t.Errorf("filler looks constant: %x", a[head:head+32])
	}
}

func TestOpenRejects(t *testing.T) {
	k := testKey(t)
	other := testKey(t)
	good := k.Seal(nil, Stamp{KindThumb, "acct-0000001", "cam-00000002", 7, 99, ""}, 512)
	flip := func(i int, bit byte) []byte { b := bytes.Clone(good); b[i] ^= bit; return b }
	random := make([]byte, 512)
	_, _ = rand.NewChaCha8([32]byte{1, 2}).Read(random)
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"nil", nil, ErrNotHerd},
		{"empty", []byte{}, ErrNotHerd},
		{"random", random, ErrNotHerd},
		{"random with magic", append([]byte(magic), random...), ErrTruncated},
		{"length field shortened", func() []byte { b := bytes.Clone(good); b[7]--; return b }(), ErrMalformed},
		{"a JPEG", []byte("\xff\xd8\xff\xe0\x00\x10JFIF"), ErrNotHerd},
		{"magic only", []byte(magic), ErrTruncated},
		{"two bytes of magic", []byte(magic[:2]), ErrTruncated},
		{"cut by one byte", good[:len(good)-1], ErrTruncated},
		{"cut to the header", good[:fixedHead], ErrTruncated},
		{"trailing byte", append(bytes.Clone(good), 0), ErrMalformed},
		{"flipped MAC bit", flip(len(good)-1, 1), ErrBadMAC},
		{"flipped filler bit", flip(300, 0x80), ErrBadMAC},
		{"flipped seq bit", flip(16, 1), ErrBadMAC},
		{"flipped account byte", flip(26, 1), ErrBadMAC},
		{"sealed with another key", other.Seal(nil, Stamp{KindThumb, "acct-0000001", "cam-00000002", 7, 99, ""}, 512), ErrBadMAC},
		{"MAC zeroed", append(bytes.Clone(good[:len(good)-MACSize]), make([]byte, MACSize)...), ErrBadMAC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := k.Open(tt.b)
			if !errors.Is(err, tt.want) {
				t.Errorf("Open err = %v, want %v", err, tt.want)
			}
			if st != (Stamp{}) {
				t.Errorf("Open returned a stamp %+v with its error", st)
			}
		})
	}
}

// Every single-bit change anywhere in a blob is rejected.
func TestOpenRejectsEveryBitFlip(t *testing.T) {
	k := testKey(t)
	good := k.Seal(nil, Stamp{KindFrame, "acct-0000001", "cam-00000002", 3, 4, ""}, 200)
	for i := range len(good) * 8 {
		b := bytes.Clone(good)
		b[i/8] ^= 1 << (i % 8)
		if st, err := k.Open(b); err == nil {
			t.Fatalf("bit %d flipped: Open accepted %+v", i, st)
		}
	}
}

func TestKeyFromBytes(t *testing.T) {
	k := testKey(t)
	k2, err := KeyFromBytes(k.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	blob := k.Seal(nil, Stamp{KindThumb, "a", "d", 1, 2, ""}, 100)
	if _, err := k2.Open(blob); err != nil {
		t.Errorf("a worker's copy of the key cannot open the coordinator's blob: %v", err)
	}
	k3 := testKey(t)
	if bytes.Equal(k.Bytes(), k3.Bytes()) {
		t.Errorf("NewKey returned the same key twice")
	}
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := KeyFromBytes(make([]byte, n)); err == nil {
			t.Errorf("KeyFromBytes accepted %d bytes", n)
		}
	}
	// Bytes is a copy: changing it cannot change the key.
	b := k.Bytes()
	b[0] ^= 0xff
	if _, err := k.Open(blob); err != nil {
		t.Errorf("changing Bytes' result changed the key")
	}
}

func TestKeyNeverPrinted(t *testing.T) {
	k := testKey(t)
	secret := k.Bytes()
	var log bytes.Buffer
	slog.New(slog.NewTextHandler(&log, nil)).Info("run", "key", k)
	slog.New(slog.NewJSONHandler(&log, nil)).Info("run", "key", k)
	outs := []string{
		fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s %x %X %d %q", k, k, k, k, k, k, k, k),
		fmt.Sprintf("%v", []*Key{k}), fmt.Sprintf("%+v", struct{ K *Key }{k}), log.String(),
	}
	for _, out := range outs {
		for _, enc := range []string{hex.EncodeToString(secret), strings.ToUpper(hex.EncodeToString(secret)), fmt.Sprint(secret[:8]), string(secret)} {
			if strings.Contains(out, enc) {
				t.Fatalf("key leaked in %q", out)
			}
		}
		if !strings.Contains(out, "redacted") {
			t.Errorf("output %q does not say the key is redacted", out)
		}
	}
}

func TestSealAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	k := testKey(t)
	st := Stamp{KindThumb, "acct-0000042", "cam-00000117", 17, 1, ""}
	buf := make([]byte, 0, 2048)
	k.Seal(buf, st, 1024) // fill the pool
	if n := testing.AllocsPerRun(100, func() { buf = k.Seal(buf[:0], st, 1024) }); n != 0 {
		t.Errorf("Seal into a large enough dst allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = k.open(buf) }); n != 0 {
		t.Errorf("open allocates %v times", n)
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{KindThumb: "thumb", KindFrame: "frame", 0: "Kind(0)", 9: "Kind(9)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", k, got, want)
		}
	}
}

func FuzzOpen(f *testing.F) {
	k, err := KeyFromBytes(bytes.Repeat([]byte{7}, KeySize))
	if err != nil {
		f.Fatal(err)
	}
	good := k.Seal(nil, Stamp{KindThumb, "acct-1", "cam-1", 1, 2, ""}, 80)
	f.Add([]byte{})
	f.Add([]byte(magic))
	f.Add(good)
	f.Add(good[:40])
	f.Add(append(bytes.Clone(good), 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := k.Open(b)
		if err == nil && !bytes.Equal(b, good) {
			// Anything else accepted would need a forged 128-bit MAC.
			t.Fatalf("Open accepted %x as %+v", b, st)
		}
		if err == nil && st.Device != "cam-1" {
			t.Fatalf("Open of the seed blob = %+v", st)
		}
	})
}
