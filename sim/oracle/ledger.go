package oracle

import (
	"math/bits"
	"sync"
	"sync/atomic"
)

// camLedger is what one camera sent and what the target acknowledged. It is
// compact because there are 300k of them with hundreds of events each: a
// high-water mark for sends (a camera's seqs count up from 1) and, for acks,
// a prefix of fully acknowledged 64-event blocks plus a bitset window past
// it. Acks mostly arrive in order, so the window stays a word or two.
type camLedger struct {
	sent atomic.Uint64 // highest seq sent; seqs 1..sent were all sent

	mu    sync.Mutex // guards base and words; per camera, never global
	base  uint64     // seqs 1..base are all acked; a multiple of 64
	words []uint64   // bit i of words[w]: seq base+64w+i+1 is acked
}

// send records seq as sent and returns how many new seqs it adds.
func (c *camLedger) send(seq uint64) uint64 {
	for {
		old := c.sent.Load()
		if seq <= old {
			return 0
		}
		if c.sent.CompareAndSwap(old, seq) {
			return seq - old
		}
	}
}

// ack records seq as acked and reports whether it was new. seq must be in
// 1..sent.
func (c *camLedger) ack(seq uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if seq <= c.base {
		return false
	}
	off := seq - c.base - 1
	w, bit := int(off/64), uint64(1)<<(off%64)
	for len(c.words) <= w {
		c.words = append(c.words, 0)
	}
	if c.words[w]&bit != 0 {
		return false
	}
	c.words[w] |= bit
	// Fold full blocks into base, reusing the slice so in-order acks
	// never allocate again.
	full := 0
	for full < len(c.words) && c.words[full] == ^uint64(0) {
		full++
	}
	if full > 0 {
		n := copy(c.words, c.words[full:])
		c.words = c.words[:n]
		c.base += 64 * uint64(full)
	}
	return true
}

// acked returns a copy of the ack set as a bitset indexed by seq-1, long
// enough to hold n seqs (n rounded up to words), and the number of acked
// seqs.
func (c *camLedger) acked(n uint64) (set []uint64, count int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	top := c.base + 64*uint64(len(c.words))
	set = make([]uint64, (max(n, top)+63)/64)
	for i := range c.base / 64 {
		set[i] = ^uint64(0)
	}
	copy(set[c.base/64:], c.words)
	for _, w := range set {
		count += bits.OnesCount64(w)
	}
	return set, count
}

// ackedCount returns how many seqs are acked.
func (c *camLedger) ackedCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := int(c.base)
	for _, w := range c.words {
		n += bits.OnesCount64(w)
	}
	return n
}
