package backoff

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeTarget is down until upAt, then sheds each camera's first attempt
// with a Retry-After, then accepts it; at dropAt it closes every connection
// with 1013 and stays down for downFor.
type fakeTarget struct {
	upAt, dropAt time.Time
	downFor      time.Duration
	retryAfter   time.Duration

	mu   sync.Mutex
	shed map[int]bool
}

var errDown = errors.New("connection refused")

// connect returns the Retry-After of a refusal, or a channel that yields
// the close code when the connection ends (nil: it stays up).
func (f *fakeTarget) connect(cam int) (retryAfter time.Duration, closed <-chan int, err error) {
	now := time.Now()
	if now.Before(f.upAt) || (!now.Before(f.dropAt) && now.Before(f.dropAt.Add(f.downFor))) {
		return 0, nil, errDown
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.shed[cam] {
		f.shed[cam] = true
		return f.retryAfter, nil, errDown
	}
	if !now.Before(f.dropAt) {
		return 0, nil, nil // after the drop, connections stay up
	}
	c := make(chan int, 1)
	time.AfterFunc(f.dropAt.Sub(now), func() { c <- CloseTryAgainLater })
	return 0, c, nil
}

// camera is the retry loop a fleet runs, reduced to its timing: it returns
// the offsets from start at which it tried to connect.
func camera(p Policy, seed uint64, cam int, f *fakeTarget, start time.Time) []time.Duration {
	var st State
	var tries []time.Duration
	for {
		tries = append(tries, time.Since(start))
		retryAfter, closed, err := f.connect(cam)
		if err != nil {
			time.Sleep(p.Hint(p.Next(&st, Uniform(seed, cam, st.Attempt)), retryAfter))
			continue
		}
		if closed == nil {
			return tries // connected for good
		}
		upSince := time.Now()
		code := <-closed
		p.Connected(&st, time.Since(upSince))
		time.Sleep(p.Closed(p.Next(&st, Uniform(seed, cam, st.Attempt)), code))
	}
}

// The sleeps a retry loop takes under a fake clock are exactly the policy's
// schedule, through an outage, a shed with Retry-After, a stable period
// that resets the backoff, and a 1013 drop.
func TestRetryLoopFollowsPolicy(t *testing.T) {
	p := Policy{Kind: DecorrelatedJitter, Base: 500 * ms, Cap: 8 * time.Second, ResetAfter: 10 * time.Second, HonourRetryAfter: true, Honour1013: true}
	const seed, cams = 7, 5
	const outage, retryAfter = 20 * time.Second, 3 * time.Second
	const dropAt, downFor = 60 * time.Second, 4 * time.Second

	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		f := &fakeTarget{upAt: start.Add(outage), dropAt: start.Add(dropAt), downFor: downFor, retryAfter: retryAfter, shed: map[int]bool{}}
		got := make([][]time.Duration, cams)
		var wg sync.WaitGroup
		for cam := range cams {
			wg.Go(func() { got[cam] = camera(p, seed, cam, f, start) })
		}
		wg.Wait()

		for cam := range cams {
			want := schedule(p, seed, cam, outage, retryAfter, dropAt, downFor)
			if !slices.Equal(got[cam], want) {
				t.Errorf("camera %d tried at\n%v\nwant the policy's schedule\n%v", cam, got[cam], want)
			}
			if len(want) < 6 {
				t.Errorf("camera %d: only %d tries; the scenario should exercise several backoff steps", cam, len(want))
			}
		}
	})
}

// schedule computes camera cam's connect times from the policy alone, with
// no clock: the sum of the delays it prescribes.
func schedule(p Policy, seed uint64, cam int, outage, retryAfter, dropAt, downFor time.Duration) []time.Duration {
	var st State
	var at time.Duration
	var tries []time.Duration
	shed := false
	for {
		tries = append(tries, at)
		switch {
		case at < outage || (at >= dropAt && at < dropAt+downFor):
			at += p.Next(&st, Uniform(seed, cam, st.Attempt))
		case !shed:
			shed = true
			at += p.Hint(p.Next(&st, Uniform(seed, cam, st.Attempt)), retryAfter)
		case at < dropAt:
			p.Connected(&st, dropAt-at)
			at = dropAt + p.Closed(p.Next(&st, Uniform(seed, cam, st.Attempt)), CloseTryAgainLater)
		default:
			return tries
		}
	}
}
