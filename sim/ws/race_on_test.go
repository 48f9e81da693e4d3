//go:build race

package ws

// raceEnabled: the race detector's instrumentation enlarges every frame,
// so the reader's stack is measured in a build without it.
const raceEnabled = true
