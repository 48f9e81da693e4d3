package oracle

import (
	"cmp"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"math/bits"
	"slices"
	"sync"
	"time"
)

// Seen is how a person was shown another account's data: the incident's
// own terms (shown in their Events tab, opened, watched).
type Seen uint8

// Ways of being shown another account's data.
const (
	// SeenData: identifiers of another account in a body, or content the
	// final audit fetched; it exposes the victim, and no viewer did
	// anything a person does.
	SeenData Seen = iota
	// SeenListed: another account's event in the viewer's Events tab (as
	// the app polls it, or as the audit reads it at the end).
	SeenListed
	// SeenOpened: another account's thumbnail the viewer's app fetched,
	// as a person tapping an event does.
	SeenOpened
	// SeenWatched: another account's live frame in the viewer's live view.
	SeenWatched
)

// ways is how many Seen values count viewers (all but SeenData).
const ways = 3

// Set is a set of account or camera indexes, sorted. Its text form
// (MarshalText) is compact for a few members and for many: the gaps
// between members as varints, in base64.
type Set []uint32

// Len is the number of members.
func (s Set) Len() int { return len(s) }

// Union is the members of s and t.
func (s Set) Union(t Set) Set {
	out := make(Set, 0, len(s)+len(t))
	i, j := 0, 0
	for i < len(s) || j < len(t) {
		switch {
		case j == len(t) || i < len(s) && s[i] < t[j]:
			out = append(out, s[i])
			i++
		case i == len(s) || t[j] < s[i]:
			out = append(out, t[j])
			j++
		default:
			out = append(out, s[i])
			i, j = i+1, j+1
		}
	}
	return out
}

// MarshalText writes s as base64 of its gaps in varints.
func (s Set) MarshalText() ([]byte, error) {
	buf := make([]byte, 0, len(s)+8)
	prev := uint32(0)
	for i, m := range s {
		gap := m - prev
		if i == 0 {
			gap = m
		}
		buf = binary.AppendUvarint(buf, uint64(gap))
		prev = m
	}
	out := make([]byte, base64.RawStdEncoding.EncodedLen(len(buf)))
	base64.RawStdEncoding.Encode(out, buf)
	return out, nil
}

// UnmarshalText reads what MarshalText wrote.
func (s *Set) UnmarshalText(b []byte) error {
	raw := make([]byte, base64.RawStdEncoding.DecodedLen(len(b)))
	n, err := base64.RawStdEncoding.Decode(raw, b)
	if err != nil {
		return errors.New("oracle: a set is base64 of varint gaps: " + err.Error())
	}
	raw = raw[:n]
	out := Set{}
	var cur uint64
	for len(raw) > 0 {
		gap, k := binary.Uvarint(raw)
		if k <= 0 || (len(out) > 0 && gap == 0) || cur+gap > 1<<32-1 {
			return errors.New("oracle: a set's gaps are not increasing varints")
		}
		cur += gap
		out = append(out, uint32(cur))
		raw = raw[k:]
	}
	*s = out
	return nil
}

// bitset is a set of small integers, allocated on first use.
type bitset struct {
	n int
	w []uint64
}

func (b *bitset) add(i int) {
	if i < 0 || i >= b.n {
		return
	}
	if b.w == nil {
		b.w = make([]uint64, (b.n+63)/64)
	}
	b.w[i/64] |= 1 << (i % 64)
}

func (b *bitset) set() Set {
	out := Set{}
	for wi, w := range b.w {
		for w != 0 {
			k := bits.TrailingZeros64(w)
			w &^= 1 << k
			out = append(out, uint32(wi*64+k))
		}
	}
	return out
}

// MaxPairs bounds the viewer → victim pairs one process keeps counts of;
// the sets stay exact beyond it.
const MaxPairs = 10_000

// pairKey is one viewer → victim pair (account indexes).
type pairKey struct{ viewer, victim int32 }

// exposure is who was shown whose data, as the oracle found it.
type exposure struct {
	mu      sync.Mutex
	viewers [ways]bitset
	victims bitset
	devices bitset
	phases  []phaseSets // in the order the run entered them
	pairs   map[pairKey]*[ways + 1]int64
	first   time.Time
	since   *time.Duration // first's time since the outage's end, when known
}

type phaseSets struct {
	name    string
	viewers [ways]bitset
}

// PhaseExposure is the viewers of one phase.
type PhaseExposure struct {
	Phase   string
	Viewers [ways]Set // by Seen - 1: listed, opened, watched
}

// Pair is how often viewer was shown victim's data, by Seen.
type Pair struct {
	Viewer, Victim string
	Counts         [ways + 1]int64 // by Seen: data, listed, opened, watched
}

// Total is how often in all.
func (p Pair) Total() int64 {
	var n int64
	for _, c := range p.Counts {
		n += c
	}
	return n
}

// Exposure is the blast radius of what the oracle found: who was shown
// another account's data, how, whose it was, and when it began. Indexes
// are the fleet's, so the exposures of shards and workers add up exactly
// (Union).
type Exposure struct {
	Viewers [ways]Set // accounts shown another's data, by Seen - 1: listed, opened, watched
	Victims Set       // accounts whose data was shown to another account
	Devices Set       // cameras whose data was
	Phases  []PhaseExposure
	Pairs   []Pair    // the pairs, most often first (at most MaxPairs)
	First   time.Time // the first exposure; zero when none
	// FirstSinceOutageEnd is First's time since the outage ended, when
	// an outage had ended by then (negative: before it ended).
	FirstSinceOutageEnd *time.Duration
}

// WithPhases names the phase a run is in at an instant, for the
// exposure's viewers per phase.
func WithPhases(at func(time.Time) string) Option { return func(o *Oracle) { o.phaseAt = at } }

// expose records that viewer (an account name) was shown data of account
// owner (an index, -1 when it is not one of this fleet's: an earlier
// run's) from camera cam (-1 when none), seen so.
func (o *Oracle) expose(seen Seen, viewer string, owner, cam int) {
	v := o.viewerIndex(viewer)
	now := o.now()
	phase := ""
	if o.phaseAt != nil {
		phase = o.phaseAt(now)
	}
	e := &o.exp
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.victims.n == 0 {
		accounts, cams := o.fleet.Accounts(), o.fleet.Cameras()
		for i := range e.viewers {
			e.viewers[i].n = accounts
		}
		e.victims.n, e.devices.n = accounts, cams
		e.pairs = map[pairKey]*[ways + 1]int64{}
	}
	if e.first.IsZero() || now.Before(e.first) {
		e.first = now
		e.since = nil
		if end := o.outageEnd.Load(); end != noOutage {
			d := now.Sub(time.Unix(0, end))
			e.since = &d
		}
	}
	if owner >= 0 {
		e.victims.add(owner)
	}
	e.devices.add(cam)
	if v < 0 {
		return
	}
	if seen != SeenData {
		e.viewers[seen-1].add(v)
		k := slices.IndexFunc(e.phases, func(p phaseSets) bool { return p.name == phase })
		if k < 0 {
			k = len(e.phases)
			e.phases = append(e.phases, phaseSets{name: phase})
			for i := range e.phases[k].viewers {
				e.phases[k].viewers[i].n = e.viewers[i].n
			}
		}
		e.phases[k].viewers[seen-1].add(v)
	}
	if owner < 0 {
		return
	}
	pk := pairKey{int32(v), int32(owner)}
	c := e.pairs[pk]
	if c == nil {
		if len(e.pairs) >= MaxPairs {
			return
		}
		c = new([ways + 1]int64)
		e.pairs[pk] = c
	}
	c[seen]++
}

// Exposure returns the exposure found so far.
func (o *Oracle) Exposure() Exposure {
	e := &o.exp
	e.mu.Lock()
	defer e.mu.Unlock()
	out := Exposure{Victims: e.victims.set(), Devices: e.devices.set(), First: e.first, FirstSinceOutageEnd: e.since}
	for i := range e.viewers {
		out.Viewers[i] = e.viewers[i].set()
	}
	for _, p := range e.phases {
		pe := PhaseExposure{Phase: p.name}
		for i := range p.viewers {
			pe.Viewers[i] = p.viewers[i].set()
		}
		out.Phases = append(out.Phases, pe)
	}
	for k, c := range e.pairs {
		out.Pairs = append(out.Pairs, Pair{Viewer: o.names.Account(int(k.viewer)), Victim: o.names.Account(int(k.victim)), Counts: *c})
	}
	SortPairs(out.Pairs)
	return out
}

// SortPairs orders pairs most often first, then by names.
func SortPairs(ps []Pair) {
	slices.SortFunc(ps, func(a, b Pair) int {
		if c := cmp.Compare(b.Total(), a.Total()); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Viewer, b.Viewer); c != 0 {
			return c
		}
		return cmp.Compare(a.Victim, b.Victim)
	})
}
