package oracle

import (
	"testing"
	"time"

	"github.com/herd-drill/herd/sim/wire"
)

// testFleet is a fleet laid out as herd does it: accounts own consecutive
// cameras, perAccount each.
type testFleet struct {
	names      *Names
	accounts   int
	perAccount int
}

func newTestFleet(k *Key, accounts, perAccount int) *testFleet {
	return &testFleet{names: k.Names(), accounts: accounts, perAccount: perAccount}
}

func (f *testFleet) Names() *Names          { return f.names }
func (f *testFleet) Cameras() int           { return f.accounts * f.perAccount }
func (f *testFleet) Accounts() int          { return f.accounts }
func (f *testFleet) AccountOf(cam int) int  { return cam / f.perAccount }
func (f *testFleet) Device(cam int) string  { return f.names.Device(cam) }
func (f *testFleet) Account(cam int) string { return f.names.Account(f.AccountOf(cam)) }
func (f *testFleet) CamerasOf(a int) (int, int) {
	return a * f.perAccount, (a + 1) * f.perAccount
}

var _ Fleet = (*testFleet)(nil)

// testNow is a fixed clock so evidence times are exact.
var testNow = time.UnixMilli(1_764_412_800_000)

func testKey(t testing.TB) *Key {
	t.Helper()
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// rig is an oracle over 3 accounts × 2 cameras: account 0 owns cameras 0
// and 1, account 1 cameras 2 and 3, account 2 cameras 4 and 5.
type rig struct {
	key   *Key
	fleet *testFleet
	o     *Oracle
}

func newRig(t testing.TB, opts ...Option) *rig {
	t.Helper()
	r := &rig{key: testKey(t)}
	r.fleet = newTestFleet(r.key, 3, 2)
	r.o = New(r.key, r.fleet, append([]Option{WithClock(func() time.Time { return testNow })}, opts...)...)
	return r
}

func (r *rig) dev(cam int) string  { return r.fleet.Device(cam) }
func (r *rig) acct(cam int) string { return r.fleet.Account(cam) }

// sendUpTo records camera cam's events 1..n as captured and sent.
func sendUpTo(o *Oracle, cam int, n uint64) {
	for seq := uint64(1); seq <= n; seq++ {
		o.Captured(cam, seq)
		o.Sent(cam, seq)
	}
}

// stamp is the stamp of camera cam's thumbnail of event seq.
func (r *rig) stamp(cam int, seq uint64) Stamp {
	return Stamp{Kind: KindThumb, Account: r.acct(cam), Device: r.dev(cam), Seq: seq, At: testNow.UnixMilli(), EventKind: "motion"}
}

// thumb seals the 1 KiB thumbnail of camera cam's event seq.
func (r *rig) thumb(cam int, seq uint64) []byte { return r.key.Seal(nil, r.stamp(cam, seq), 1024) }

// frame seals live-view frame n of camera cam.
func (r *rig) frame(cam int, n uint64) []byte {
	return r.key.Seal(nil, Stamp{Kind: KindFrame, Account: r.acct(cam), Device: r.dev(cam), Seq: n, At: testNow.UnixMilli()}, 4096)
}

// info is the event listing herd expects for camera cam's event seq.
func (r *rig) info(cam int, seq uint64) *wire.EventInfo {
	id := EventID(r.dev(cam), seq)
	return &wire.EventInfo{ID: id, Device: r.dev(cam), Account: r.acct(cam), Seq: seq, At: testNow.UnixMilli(), Kind: "motion", ThumbURL: wire.ThumbPath(id)}
}

// nonZero returns the non-zero counts of a snapshot.
func nonZero(v Violations) map[Class]int64 {
	m := map[Class]int64{}
	for c, n := range v.Counts {
		if n != 0 {
			m[c] = n
		}
	}
	return m
}
