package oracle

import (
	"testing"

	"github.com/herd-drill/herd/sim/wire"
)

// benchRig is a fleet of 10,000 accounts × 3 cameras, so fleet lookups hit
// a map of realistic size.
func benchRig(b *testing.B) (*Oracle, *Key, *testFleet) {
	b.Helper()
	k := testKey(b)
	f := newTestFleet(10_000, 3)
	return New(k, f), k, f
}

func BenchmarkSeal(b *testing.B) {
	_, k, f := benchRig(b)
	st := Stamp{KindThumb, f.Account(7), f.Device(7), 17, 1764412800123}
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
	o.Sent(cam, 1)
	ev := &wire.EventInfo{ID: EventID(f.Device(cam), 1), Device: f.Device(cam), Account: f.Account(cam), Seq: 1}
	body := k.Seal(nil, Stamp{KindThumb, f.Account(cam), f.Device(cam), 1, 1}, 1024)
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
	ev := &wire.EventInfo{ID: EventID(f.Device(cam), 1), Device: f.Device(cam), Account: f.Account(cam), Seq: 1}
	body := k.Seal(nil, Stamp{KindThumb, f.Account(cam), f.Device(cam), 1, 1}, 1024)
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
	o.Sent(cam, 300)
	ev := &wire.EventInfo{ID: EventID(f.Device(cam), 250), Device: f.Device(cam), Account: f.Account(cam), Seq: 250}
	viewer := f.Account(cam)
	b.ReportAllocs()
	for b.Loop() {
		if !o.CheckListed(viewer, ev, "p") {
			b.Fatal("clean event flagged")
		}
	}
}

// BenchmarkLedger is one event's bookkeeping on a camera: sent, ack
// checked, acked.
func BenchmarkLedger(b *testing.B) {
	o, _, f := benchRig(b)
	const cam = 4242
	id := EventID(f.Device(cam), 1)
	b.ReportAllocs()
	seq := uint64(0)
	for b.Loop() {
		seq++
		o.Sent(cam, seq)
		if _, ok := o.CheckAck(cam, id); !ok {
			b.Fatal("ack refused")
		}
		o.Acked(cam, seq)
	}
}
