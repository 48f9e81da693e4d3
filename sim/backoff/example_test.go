package backoff_test

import (
	"fmt"
	"time"

	"github.com/herd-drill/herd/sim/backoff"
)

// A camera's delays after an outage, under equal-jitter: each is at least
// half the exponential ceiling, and the target's Retry-After wins when
// longer.
func Example() {
	p := backoff.Policy{Kind: backoff.EqualJitter, Base: time.Second, Cap: 8 * time.Second, HonourRetryAfter: true}
	if err := p.Validate(); err != nil {
		panic(err)
	}
	var st backoff.State
	for range 5 {
		// A fixed draw keeps the example's output stable; a fleet uses
		// backoff.Uniform(seed, cam, st.Attempt).
		fmt.Println(p.Next(&st, 0.5))
	}
	fmt.Println(p.Hint(p.Next(&st, 0.5), 30*time.Second))
	p.Connected(&st, time.Minute) // stayed up: start over
	fmt.Println(p.Next(&st, 0.5))
	// Output:
	// 750ms
	// 1.5s
	// 3s
	// 6s
	// 6s
	// 30s
	// 750ms
}
