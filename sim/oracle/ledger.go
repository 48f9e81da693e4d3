package oracle

import (
	"math/bits"
	"sync"
	"sync/atomic"
)

// camLedger is what one camera captured, what it sent on a socket and what
// the target acknowledged. It is compact because there are 300k of them
// with hundreds of events each: a high-water mark for captures (a camera's
// seqs count up from 1), and for sends and acks a seqSet each, a prefix of
// complete 64-event blocks plus a bitset window past it. Events are mostly
// sent and acked in order, so each window stays a word or two.
type camLedger struct {
	captured atomic.Uint64 // highest seq captured; 1..captured were all captured
	sentBase atomic.Uint64 // sent.base, readable without mu: seqs 1..sentBase were all sent

	mu    sync.Mutex // guards sent and acked; per camera, never global
	sent  seqSet
	acked seqSet
}

// capture records seq as captured.
func (c *camLedger) capture(seq uint64) {
	for {
		old := c.captured.Load()
		if seq <= old || c.captured.CompareAndSwap(old, seq) {
			return
		}
	}
}

// send records seq as sent on a socket and reports whether it was new.
func (c *camLedger) send(seq uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.sent.add(seq) {
		return false
	}
	c.sentBase.Store(c.sent.base)
	return true
}

// wasSent reports whether seq was ever sent. Old seqs are answered without
// the lock.
func (c *camLedger) wasSent(seq uint64) bool {
	if seq == 0 {
		return false
	}
	if seq <= c.sentBase.Load() {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sent.has(seq)
}

// ack records seq as acked and reports whether it was new. seq must have
// been sent.
func (c *camLedger) ack(seq uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.acked.add(seq)
}

// wasAcked reports whether seq was acked.
func (c *camLedger) wasAcked(seq uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.acked.has(seq)
}

// ackedSet returns a copy of the ack set as a bitset indexed by seq-1, and
// the number of acked seqs.
func (c *camLedger) ackedSet() (set []uint64, count int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.acked.bitset()
}

// ackedCount returns how many seqs are acked.
func (c *camLedger) ackedCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.acked.count()
}

// nthAcked returns the k-th acked seq (from 0, k < ackedCount), for probes
// that ask for an event a victim really has.
func (c *camLedger) nthAcked(k int) (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if uint64(k) < c.acked.base {
		return uint64(k) + 1, true
	}
	k -= int(c.acked.base)
	for w, word := range c.acked.words {
		if n := bits.OnesCount64(word); k >= n {
			k -= n
			continue
		}
		for word != 0 {
			b := bits.TrailingZeros64(word)
			if k == 0 {
				return c.acked.base + uint64(w)*64 + uint64(b) + 1, true
			}
			word &^= 1 << b
			k--
		}
	}
	return 0, false
}

// seqSet is a set of seqs (from 1): seqs 1..base are all in it, a multiple
// of 64, and bit i of words[w] says whether seq base+64w+i+1 is.
type seqSet struct {
	base  uint64
	words []uint64
}

// add puts seq in the set and reports whether it was new.
func (s *seqSet) add(seq uint64) bool {
	if seq == 0 || seq <= s.base {
		return false
	}
	off := seq - s.base - 1
	w, bit := int(off/64), uint64(1)<<(off%64)
	for len(s.words) <= w {
		s.words = append(s.words, 0)
	}
	if s.words[w]&bit != 0 {
		return false
	}
	s.words[w] |= bit
	// Fold full blocks into base, reusing the slice so in-order adds never
	// allocate again.
	full := 0
	for full < len(s.words) && s.words[full] == ^uint64(0) {
		full++
	}
	if full > 0 {
		n := copy(s.words, s.words[full:])
		s.words = s.words[:n]
		s.base += 64 * uint64(full)
	}
	return true
}

func (s *seqSet) has(seq uint64) bool {
	if seq == 0 {
		return false
	}
	if seq <= s.base {
		return true
	}
	off := seq - s.base - 1
	w := off / 64
	return w < uint64(len(s.words)) && s.words[w]&(1<<(off%64)) != 0
}

func (s *seqSet) count() int {
	n := int(s.base)
	for _, w := range s.words {
		n += bits.OnesCount64(w)
	}
	return n
}

// bitset returns the set as a bitset indexed by seq-1, and its size.
func (s *seqSet) bitset() ([]uint64, int) {
	set := make([]uint64, s.base/64+uint64(len(s.words)))
	for i := range s.base / 64 {
		set[i] = ^uint64(0)
	}
	copy(set[s.base/64:], s.words)
	return set, s.count()
}
