package oracle

import (
	"fmt"
	"testing"
	"time"

	"github.com/herd-drill/herd/sim/wire"
)

// testFleet is a fleet laid out as herd does it: accounts own consecutive
// cameras. Its tables are built once so that lookups allocate nothing, like
// the real layout's.
type testFleet struct {
	devices  []string
	accounts []string
	index    map[string]int
}

func newTestFleet(accounts, perAccount int) *testFleet {
	f := &testFleet{index: make(map[string]int)}
	for cam := range accounts * perAccount {
		f.devices = append(f.devices, fmt.Sprintf("cam-%08d", cam))
		f.accounts = append(f.accounts, fmt.Sprintf("acct-%07d", cam/perAccount))
		f.index[f.devices[cam]] = cam
	}
	return f
}

func (f *testFleet) Camera(device string) (int, string, bool) {
	cam, ok := f.index[device]
	if !ok {
		return 0, "", false
	}
	return cam, f.accounts[cam], true
}
func (f *testFleet) Cameras() int           { return len(f.devices) }
func (f *testFleet) Device(cam int) string  { return f.devices[cam] }
func (f *testFleet) Account(cam int) string { return f.accounts[cam] }

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

// rig is an oracle over 3 accounts × 2 cameras:
// acct-0000000: cam-00000000, cam-00000001; acct-0000001: cam-…02, cam-…03;
// acct-0000002: cam-…04, cam-…05.
type rig struct {
	key   *Key
	fleet *testFleet
	o     *Oracle
}

func newRig(t testing.TB, opts ...Option) *rig {
	t.Helper()
	r := &rig{key: testKey(t), fleet: newTestFleet(3, 2)}
	r.o = New(r.key, r.fleet, append([]Option{WithClock(func() time.Time { return testNow })}, opts...)...)
	return r
}

func (r *rig) dev(cam int) string  { return r.fleet.Device(cam) }
func (r *rig) acct(cam int) string { return r.fleet.Account(cam) }

// thumb seals the 1 KiB thumbnail of camera cam's event seq.
func (r *rig) thumb(cam int, seq uint64) []byte {
	return r.key.Seal(nil, Stamp{Kind: KindThumb, Account: r.acct(cam), Device: r.dev(cam), Seq: seq, At: testNow.UnixMilli()}, 1024)
}

// frame seals live-view frame n of camera cam.
func (r *rig) frame(cam int, n uint64) []byte {
	return r.key.Seal(nil, Stamp{Kind: KindFrame, Account: r.acct(cam), Device: r.dev(cam), Seq: n, At: testNow.UnixMilli()}, 4096)
}

// info is the event listing herd expects for camera cam's event seq.
func (r *rig) info(cam int, seq uint64) *wire.EventInfo {
	id := EventID(r.dev(cam), seq)
	return &wire.EventInfo{ID: id, Device: r.dev(cam), Account: r.acct(cam), Seq: seq, At: testNow.UnixMilli(), Kind: "motion", ThumbURL: "/v1/events/x/thumbnail"}
}

// counts returns the non-zero counts of a snapshot.
func nonZero(v Violations) map[Class]int64 {
	m := map[Class]int64{}
	for c, n := range v.Counts {
		if n != 0 {
			m[c] = n
		}
	}
	return m
}
