package kv

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// With the stale-reply fault, a timed-out look-up shifts the replies of its
// connection; the health check heals the connection once it is idle, and
// not while it is busy.
func TestHealthCheckHealsAnIdleShiftedConnection(t *testing.T) {
	slow := func(key string) (string, bool) {
		if key == "slow" {
			time.Sleep(60 * time.Millisecond)
		}
		return echo(key)
	}
	s := NewServer(slow, 0)
	c := NewClient(s.Pipe(1), 20*time.Millisecond, true, WithHealthCheck(200*time.Millisecond))
	t.Cleanup(func() { c.Close(); s.Close() })
	ctx := context.Background()

	if _, _, err := c.Get(ctx, "slow"); err != ErrTimeout {
		t.Fatalf("Get(slow): %v, want ErrTimeout", err)
	}
	time.Sleep(80 * time.Millisecond) // its reply arrives; nobody reads it
	// Busy: calls follow each other closer than the health-check interval,
	// and each reads the answer meant for the call before it.
	prev := "slow"
	for i := 0; i < 3; i++ {
		k := fmt.Sprint("busy", i)
		if got, _, _ := c.Get(ctx, k); got != "value of "+prev {
			t.Errorf("busy Get(%s) = %q, want the stale %q", k, got, "value of "+prev)
		}
		prev = k
	}
	time.Sleep(300 * time.Millisecond) // idle past the health check
	for i := 0; i < 3; i++ {
		k := fmt.Sprint("k", i)
		if got, _, _ := c.Get(ctx, k); got != "value of "+k {
			t.Errorf("after the health check Get(%s) = %q, want its own reply", k, got)
		}
	}
	if c.Resets() != 1 {
		t.Errorf("Resets = %d, want 1", c.Resets())
	}
}
