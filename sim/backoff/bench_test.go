package backoff

import (
	"testing"
	"time"
)

// BenchmarkNext is one camera's reconnect decision: draw and delay.
func BenchmarkNext(b *testing.B) {
	for _, k := range Kinds() {
		b.Run(k.String(), func(b *testing.B) {
			p := Policy{Kind: k, Base: 500 * time.Millisecond, Cap: 30 * time.Second}
			var st State
			b.ReportAllocs()
			cam := 0
			for b.Loop() {
				if st.Attempt > 20 {
					st, cam = State{}, cam+1
				}
				_ = p.Next(&st, Uniform(1, cam, st.Attempt))
			}
		})
	}
}
