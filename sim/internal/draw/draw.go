// Package draw is a run's randomness: named streams, each number a pure
// function of the fleet's seed, the stream's name and the keys drawn with
// (a camera, an attempt, an outage), mixed by one SplitMix64. A run is
// reproducible from its seed on any machine, in any process and order, and
// no stream's draws move another's.
package draw

import "hash/fnv"

// Mix is SplitMix64: its increment and finaliser, a bijection that spreads
// every bit of x over the result.
func Mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Unit maps 64 random bits to [0,1).
func Unit(x uint64) float64 { return float64(x>>11) * 0x1p-53 }

// Stream is one named stream of a run's draws.
type Stream uint64

// New is the stream name of the run of seed.
func New(seed uint64, name string) Stream {
	h := fnv.New64a()
	h.Write([]byte(name))
	return Stream(Mix(seed ^ Mix(h.Sum64())))
}

// Of is the stream of seed itself, for callers that keep their own seeds
// apart.
func Of(seed uint64) Stream { return Stream(Mix(seed)) }

// Unit draws a number in [0,1) for key a.
func (s Stream) Unit(a uint64) float64 { return Unit(Mix(uint64(s) ^ a)) }

// Unit2 draws a number in [0,1) for keys a and b.
func (s Stream) Unit2(a, b uint64) float64 { return Unit(Mix(Mix(uint64(s)^a) ^ b)) }

// Index draws an index in [0, n) for keys a and b; n must be positive.
func (s Stream) Index(n int, a, b uint64) int { return min(n-1, int(s.Unit2(a, b)*float64(n))) }
