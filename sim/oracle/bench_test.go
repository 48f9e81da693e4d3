package oracle

import (
	"encoding/json"
	"testing"

	"github.com/herd-drill/herd/sim/wire"
)

// benchRig is a fleet of 10,000 accounts × 3 cameras.
func benchRig(b *testing.B) (*Oracle, *Key, *testFleet) {
	b.Helper()
	k := testKey(b)
	f := newTestFleet(k, 10_000, 3)
	return New(k, f), k, f
}

func benchStamp(f *testFleet, cam int, seq uint64) Stamp {
	return Stamp{Kind: KindThumb, Account: f.Account(cam), Device: f.Device(cam), Seq: seq, At: 1764412800123, EventKind: "motion"}
}

func benchEvent(f *testFleet, cam int, seq uint64) *wire.EventInfo {
	id := EventID(f.Device(cam), seq)
	return &wire.EventInfo{ID: id, Device: f.Device(cam), Account: f.Account(cam), Seq: seq, At: 1764412800123, Kind: "motion", ThumbURL: wire.ThumbPath(id)}
}

func BenchmarkSeal(b *testing.B) {
	_, k, f := benchRig(b)
	st := benchStamp(f, 7, 17)
	buf := make([]byte, 0, 1024)
	b.SetBytes(1024)
	b.ReportAllocs()
	for b.Loop() {
		st.Seq++
		buf = k.Seal(buf[:0], st, 1024)
	}
}

func BenchmarkCheckThumb(b *testing.B) {
	o, k, f := benchRig(b)
	const cam = 4242
	sendUpTo(o, cam, 1)
	ev := benchEvent(f, cam, 1)
	body := k.Seal(nil, benchStamp(f, cam, 1), 1024)
	viewer := f.Account(cam)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if !o.CheckThumb(viewer, ev, body, "p") {
			b.Fatal("clean thumbnail flagged")
		}
	}
}

// BenchmarkCheckThumbParallel shows the clean path does not contend: with
// every goroutine checking at once, per-op time should drop with cores.
func BenchmarkCheckThumbParallel(b *testing.B) {
	o, k, f := benchRig(b)
	const cam = 4242
	ev := benchEvent(f, cam, 1)
	body := k.Seal(nil, benchStamp(f, cam, 1), 1024)
	viewer := f.Account(cam)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !o.CheckThumb(viewer, ev, body, "p") {
				b.Error("clean thumbnail flagged")
				return
			}
		}
	})
}

func BenchmarkCheckListed(b *testing.B) {
	o, _, f := benchRig(b)
	const cam = 4242
	sendUpTo(o, cam, 300)
	ev := benchEvent(f, cam, 250)
	viewer := f.Account(cam)
	b.ReportAllocs()
	for b.Loop() {
		if !o.CheckListed(viewer, ev, "p") {
			b.Fatal("clean event flagged")
		}
	}
}

// BenchmarkCheckBody scans a clean Events-tab page of 50 events for other
// accounts' names, as every page an app or the audit reads is.
func BenchmarkCheckBody(b *testing.B) {
	o, _, f := benchRig(b)
	const cam = 4242
	page := wire.EventsPage{Next: "c", More: true}
	for seq := uint64(1); seq <= 50; seq++ {
		page.Events = append(page.Events, *benchEvent(f, cam+int(seq%3), seq))
	}
	body, err := json.Marshal(page)
	if err != nil {
		b.Fatal(err)
	}
	viewer := f.Account(cam)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if o.CheckBody(viewer, body, "/v1/accounts/x/events", "p", nil) != 0 {
			b.Fatal("clean page flagged")
		}
	}
}

// BenchmarkLedger is one event's bookkeeping on a camera: captured, sent,
// ack checked, acked.
func BenchmarkLedger(b *testing.B) {
	o, _, f := benchRig(b)
	const cam = 4242
	dev := f.Device(cam)
	ids := make([]string, 1<<12)
	for i := range ids {
		ids[i] = EventID(dev, uint64(i+1))
	}
	b.ReportAllocs()
	seq := uint64(0)
	for b.Loop() {
		seq++
		o.Captured(cam, seq)
		o.Sent(cam, seq)
		if _, ok := o.CheckAck(cam, ids[(seq-1)%uint64(len(ids))]); !ok {
			b.Fatal("ack refused")
		}
		o.Acked(cam, seq)
	}
}
