//go:build race

package oracle

// raceEnabled skips allocation counts: under the race detector sync.Pool
// drops items on purpose, so pooled hash states are re-made.
const raceEnabled = true
