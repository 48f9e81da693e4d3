// Package backoff holds the reconnect policies of simulated devices as pure
// functions, so that a fleet of 300k cameras can keep one tiny State each
// and a run is reproducible from its seed.
//
// The jittered policies are the formulas of the AWS Architecture Blog post
// "Exponential Backoff and Jitter". With attempt n counting from 0 and
// t = min(Cap, Base·2^n):
//
//	exponential          t
//	full-jitter          rand(0, t)
//	equal-jitter         t/2 + rand(0, t/2)
//	decorrelated-jitter  min(Cap, rand(Base, prev·3)), prev starting at Base
//	fixed                Base
//	immediate            0
//
// The randomness is a number u in [0,1) that the caller supplies, usually
// Uniform(seed, camera, attempt).
package backoff

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/herd-drill/herd/sim/internal/draw"
)

// Kind is a reconnect policy's formula.
type Kind uint8

// Kinds of reconnect policy. The zero Kind is not one: an unset policy is
// an error (see Policy.Validate), not silently some default.
const (
	Exponential Kind = iota + 1
	FullJitter
	EqualJitter
	DecorrelatedJitter
	Fixed
	Immediate
)

var kindNames = [...]string{
	Exponential:        "exponential",
	FullJitter:         "full-jitter",
	EqualJitter:        "equal-jitter",
	DecorrelatedJitter: "decorrelated-jitter",
	Fixed:              "fixed",
	Immediate:          "immediate",
}

// Kinds returns every kind, in declaration order.
func Kinds() []Kind {
	return []Kind{Exponential, FullJitter, EqualJitter, DecorrelatedJitter, Fixed, Immediate}
}

func (k Kind) valid() bool { return k >= Exponential && k <= Immediate }

// String returns the kind's name as scenarios spell it, e.g. "full-jitter".
func (k Kind) String() string {
	if k.valid() {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// ParseKind returns the kind named s. The error lists the valid names.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds() {
		if kindNames[k] == s {
			return k, nil
		}
	}
	names := make([]string, 0, len(kindNames))
	for _, k := range Kinds() {
		names = append(names, kindNames[k])
	}
	return 0, fmt.Errorf("backoff: unknown policy %q (valid: %s)", s, strings.Join(names, ", "))
}

// MarshalText returns the kind's name, so scenarios and results carry names.
func (k Kind) MarshalText() ([]byte, error) {
	if !k.valid() {
		return nil, fmt.Errorf("backoff: invalid %v", k)
	}
	return []byte(k.String()), nil
}

// UnmarshalText parses a kind's name, as in YAML scenarios.
func (k *Kind) UnmarshalText(b []byte) error {
	v, err := ParseKind(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// Policy is how a device waits before reconnecting.
type Policy struct {
	Kind Kind
	// Base is the first delay of the exponential kinds, the floor of
	// decorrelated-jitter and the delay of fixed.
	Base time.Duration
	// Cap bounds the exponential kinds; zero means uncapped (delays then
	// saturate at the largest Duration instead of overflowing).
	Cap time.Duration
	// ResetAfter is how long a connection must stay up before the attempt
	// counter starts again from zero; zero resets on every connection.
	ResetAfter time.Duration
	// HonourRetryAfter makes Hint wait at least what the target asked for
	// (Retry-After, or a nack's retry_after_ms).
	HonourRetryAfter bool
	// Honour1013 makes Closed wait at least Base after a 1013 close.
	Honour1013 bool
}

// Validate reports what is wrong with p, all problems joined.
func (p Policy) Validate() error {
	var errs []error
	if !p.Kind.valid() {
		errs = append(errs, fmt.Errorf("backoff: kind %v is not one of %v", p.Kind, Kinds()))
	}
	if p.Base < 0 || p.Cap < 0 || p.ResetAfter < 0 {
		errs = append(errs, fmt.Errorf("backoff: negative duration (base %v, cap %v, reset_after %v)", p.Base, p.Cap, p.ResetAfter))
	}
	switch p.Kind {
	case Exponential, FullJitter, EqualJitter, DecorrelatedJitter:
		if p.Base <= 0 {
			// Base·2^n stays 0 forever: every camera would retry at once.
			errs = append(errs, fmt.Errorf("backoff: %v needs a base above 0", p.Kind))
		}
		if p.Cap > 0 && p.Cap < p.Base {
			errs = append(errs, fmt.Errorf("backoff: cap %v is below base %v", p.Cap, p.Base))
		}
	}
	return errors.Join(errs...)
}

// State is one device's reconnect state. It is 16 bytes: a fleet keeps one
// per camera.
type State struct {
	Attempt uint32        // failed attempts since the last reset
	Prev    time.Duration // the previous delay, for decorrelated-jitter
}

// Next returns the delay before the next connect attempt and advances st.
// u is a uniform random number in [0,1), supplied by the caller so that Next
// stays pure (values outside are clamped into it). Next panics on an
// invalid Kind; Validate catches that first.
func (p Policy) Next(st *State, u float64) time.Duration {
	switch {
	case !(u >= 0): // also NaN
		u = 0
	case u >= 1:
		u = math.Nextafter(1, 0)
	}
	var d time.Duration
	switch p.Kind {
	case Exponential:
		d = p.ceiling(st.Attempt)
	case FullJitter:
		d = scale(p.ceiling(st.Attempt), u)
	case EqualJitter:
		half := p.ceiling(st.Attempt) / 2
		d = half + scale(half, u)
	case DecorrelatedJitter:
		prev := max(st.Prev, p.Base)
		hi := prev * 3
		if prev > math.MaxInt64/3 {
			hi = math.MaxInt64
		}
		d = min(p.Base+scale(hi-p.Base, u), p.capOrMax())
	case Fixed:
		d = p.Base
	case Immediate:
		d = 0
	default:
		panic(fmt.Sprintf("backoff: Next with invalid %v", p.Kind))
	}
	if st.Attempt < math.MaxUint32 {
		st.Attempt++
	}
	st.Prev = d
	return d
}

func (p Policy) capOrMax() time.Duration {
	if p.Cap <= 0 {
		return math.MaxInt64
	}
	return p.Cap
}

// ceiling is min(cap, base·2^n) without overflowing: base·2^n is computed
// only when it is known to fit under the cap.
func (p Policy) ceiling(n uint32) time.Duration {
	c := p.capOrMax()
	switch {
	case p.Base <= 0:
		return 0
	case n >= 63 || p.Base > c>>n:
		return c
	}
	return p.Base << n
}

// scale returns u·t for u in [0,1): a draw from [0, t).
func scale(t time.Duration, u float64) time.Duration {
	if t <= 0 {
		return 0
	}
	r := u * float64(t)
	// u just below 1 can round r up to t's float, which for large t is
	// above t itself: converting that back could overflow int64.
	if r >= float64(t) {
		return t - 1
	}
	return time.Duration(r)
}

// Hint folds a target's hint into a delay: with HonourRetryAfter, a
// Retry-After or a nack's retry_after_ms makes the device wait
// max(delay, hint). The hint is not capped by Cap: honouring it means
// waiting what the target asked, and Cap bounds only herd's own growth. A
// hint of zero or less, or a policy that does not honour hints, leaves
// delay as it is.
func (p Policy) Hint(delay, hint time.Duration) time.Duration {
	if p.HonourRetryAfter && hint > delay {
		return hint
	}
	return delay
}

// CloseTryAgainLater is the WebSocket close code (1013) a target sends when
// it sheds an open connection.
const CloseTryAgainLater = 1013

// Closed folds a WebSocket close code into a delay. A 1013 carries no
// duration, only "not now"; with Honour1013 the device then waits at least
// Base, so that kinds whose delay can be near zero (immediate, full-jitter's
// low draws) do not bounce straight back into a target that just shed them.
// Other codes leave delay as it is.
func (p Policy) Closed(delay time.Duration, code int) time.Duration {
	if p.Honour1013 && code == CloseTryAgainLater && delay < p.Base {
		return p.Base
	}
	return delay
}

// Connected tells st that a connection stayed up for up: once it has been
// up at least ResetAfter, the next failure starts again from attempt 0 (and
// decorrelated-jitter from Base).
func (p Policy) Connected(st *State, up time.Duration) {
	if up >= p.ResetAfter {
		*st = State{}
	}
}

// Uniform returns a number in [0,1) drawn from (seed, cam, attempt) by
// SplitMix64 (sim/internal/draw): the same inputs always give the same
// number, so a run's retry schedule is reproducible from its seed without
// any shared random source.
func Uniform(seed uint64, cam int, attempt uint32) float64 {
	return draw.Of(seed).Unit2(uint64(cam), uint64(attempt))
}
