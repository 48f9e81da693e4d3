package sim

import (
	"bytes"
	"testing"

	"github.com/herd-drill/herd/sim/oracle"
	"github.com/herd-drill/herd/sim/wire"
)

// testKey is a fresh run key.
func testKey(t testing.TB) *oracle.Key {
	t.Helper()
	k, err := oracle.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestLayoutIsReproducible(t *testing.T) {
	k := testKey(t)
	a, _ := NewLayout(5000, 7, k)
	b, _ := NewLayout(5000, 7, k)
	c, _ := NewLayout(5000, 8, k)
	d, _ := NewLayout(5000, 7, testKey(t))
	if a.Accounts() != b.Accounts() {
		t.Fatalf("same seed: %d vs %d accounts", a.Accounts(), b.Accounts())
	}
	var ea, eb, ec, ed bytes.Buffer
	a.Export(&ea, nil)
	b.Export(&eb, nil)
	c.Export(&ec, nil)
	d.Export(&ed, nil)
	if !bytes.Equal(ea.Bytes(), eb.Bytes()) {
		t.Error("the same (cameras, seed, key) exported different fleets")
	}
	if bytes.Equal(ea.Bytes(), ec.Bytes()) {
		t.Error("different seeds exported the same fleet")
	}
	// Another run: the same shape, under names and tokens of its own, so
	// that no drill meets an earlier drill's accounts.
	if d.Accounts() != a.Accounts() || a.Namespace() == d.Namespace() {
		t.Errorf("another key: %d accounts in %s, want %d in a namespace other than %s", d.Accounts(), d.Namespace(), a.Accounts(), a.Namespace())
	}
	for _, line := range bytes.Split(ea.Bytes(), []byte("\n")) {
		if len(line) > 0 && bytes.Contains(ed.Bytes(), line[:40]) {
			t.Fatalf("another run's export shares %q", line[:40])
		}
	}
}

func TestLayoutSkew(t *testing.T) {
	l, err := NewLayout(200_000, 1, testKey(t))
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[int]int{}
	maxSize := 0
	for a := 0; a < l.Accounts(); a++ {
		f, e := l.CamerasOf(a)
		n := e - f
		sizes[n]++
		maxSize = max(maxSize, n)
	}
	share := func(n int) float64 { return float64(sizes[n]) / float64(l.Accounts()) }
	if got := share(1); got < 0.42 || got > 0.48 {
		t.Errorf("homes with 1 camera: %.3f, want about 0.45", got)
	}
	if got := share(1) + share(2); got < 0.66 || got > 0.74 {
		t.Errorf("homes with 1–2 cameras: %.3f, want about 0.70", got)
	}
	if maxSize != 16 {
		t.Errorf("largest home has %d cameras, want the tail to reach 16", maxSize)
	}
	if mean := float64(l.Cameras()) / float64(l.Accounts()); mean < 2.3 || mean > 2.8 {
		t.Errorf("mean cameras per home %.2f, want about 2.5", mean)
	}
}

func TestLayoutNamesRoundTrip(t *testing.T) {
	l, _ := NewLayout(1000, 3, testKey(t))
	ns := l.Namespace()
	for _, cam := range []int{0, 1, 117, 999} {
		dev := l.Device(cam)
		got, acct, ok := l.Camera(dev)
		if !ok || got != cam || acct != l.Account(cam) {
			t.Errorf("Camera(%q) = %d, %q, %v; want %d, %q, true", dev, got, acct, ok, cam, l.Account(cam))
		}
	}
	other, _ := NewLayout(1000, 3, testKey(t))
	for _, bad := range []string{"", "cam-00000001", ns + ".cam-", ns + ".cam-1", ns + ".cam-00001000", ns + ".cam-000000117", ns + ".acct-0000001",
		ns + ".cam-0000011x", ns + ".CAM-00000001", other.Device(1), ns + ".cam-00000001/1"} {
		if _, _, ok := l.Camera(bad); ok {
			t.Errorf("Camera(%q) accepted an id this layout did not make", bad)
		}
	}
	if got := l.Device(117); got != ns+".cam-00000117" {
		t.Errorf("Device(117) = %q", got)
	}
	if got := l.AccountID(42); got != ns+".acct-0000042" {
		t.Errorf("AccountID(42) = %q", got)
	}
}

func TestLayoutExportIsValidProvisioning(t *testing.T) {
	l, _ := NewLayout(300, 9, testKey(t))
	var buf bytes.Buffer
	if err := l.Export(&buf, nil); err != nil {
		t.Fatal(err)
	}
	accounts, devices := 0, 0
	tokens := map[string]bool{}
	err := wire.ReadFleet(&buf, func(_ int, a *wire.Account) error {
		accounts++
		devices += len(a.Devices)
		for _, d := range a.Devices {
			if tokens[d.Token] {
				t.Errorf("token of %s repeats", d.Device)
			}
			tokens[d.Token] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if accounts != l.Accounts() || devices != l.Cameras() {
		t.Errorf("export has %d accounts and %d devices, want %d and %d", accounts, devices, l.Accounts(), l.Cameras())
	}
}

func TestCellOf(t *testing.T) {
	// FNV-1a 32 of "acct-0000000" is fixed by the algorithm, so the cell
	// rule is the same in every implementation that follows the docs.
	counts := make([]int, 4)
	names := testKey(t).Names()
	for a := 0; a < 4000; a++ {
		counts[CellOf(names.Account(a), 4)]++
	}
	for i, n := range counts {
		if n < 800 || n > 1200 {
			t.Errorf("cell %d owns %d of 4000 accounts, want about 1000", i, n)
		}
	}
	if CellOf("anything", 1) != 0 {
		t.Error("one cell must own everything")
	}
}
