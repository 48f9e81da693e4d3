package sim

import (
	"fmt"
	"strconv"
	"strings"
)

// Segment is a slice of a fleet: shard Index of Count, which runs the
// accounts a with a mod Count == Index. All of an account's cameras and its
// app user are in one segment, so the oracle's view of an account stays
// whole in one process. Segment is the one home of that rule (the shard
// rule), for local worker processes and for shards on several machines
// alike, as k6's ExecutionSegment is for its slices of work.
//
// Its text form is "I/N": "0/1" is the whole fleet.
type Segment struct {
	Index, Count int
}

// Whole is the whole fleet as one segment.
var Whole = Segment{Index: 0, Count: 1}

// Split returns the n segments of a fleet split n ways.
func Split(n int) []Segment {
	out := make([]Segment, n)
	for i := range out {
		out[i] = Segment{Index: i, Count: n}
	}
	return out
}

// Valid reports whether s is a segment: 0 <= Index < Count.
func (s Segment) Valid() error {
	if s.Count < 1 || s.Index < 0 || s.Index >= s.Count {
		return fmt.Errorf("shard %d/%d: want I/N with 0 <= I < N, e.g. 0/4", s.Index, s.Count)
	}
	return nil
}

// IsWhole reports whether s is the whole fleet.
func (s Segment) IsWhole() bool { return s.Count <= 1 }

// Owns reports whether account a belongs to s.
func (s Segment) Owns(a int) bool { return s.Count <= 1 || a%s.Count == s.Index }

// Accounts returns the accounts of l in s, ascending.
func (s Segment) Accounts(l *Layout) []int {
	step := max(s.Count, 1)
	out := make([]int, 0, l.Accounts()/step+1)
	for a := s.Index; a < l.Accounts(); a += step {
		out = append(out, a)
	}
	return out
}

// Cameras returns how many cameras of l are in s: the accounts' cameras,
// exactly (homes differ in size, so segments do too).
func (s Segment) Cameras(l *Layout) int {
	n := 0
	for a := s.Index; a < l.Accounts(); a += max(s.Count, 1) {
		first, end := l.CamerasOf(a)
		n += end - first
	}
	return n
}

// CameraIndexes returns the cameras of l in s, ascending.
func (s Segment) CameraIndexes(l *Layout) []int {
	out := make([]int, 0, s.Cameras(l))
	for _, a := range s.Accounts(l) {
		first, end := l.CamerasOf(a)
		for cam := first; cam < end; cam++ {
			out = append(out, cam)
		}
	}
	return out
}

// String returns "I/N".
func (s Segment) String() string { return strconv.Itoa(s.Index) + "/" + strconv.Itoa(s.Count) }

// MarshalText writes "I/N".
func (s Segment) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads "I/N".
func (s *Segment) UnmarshalText(b []byte) error {
	i, n, ok := strings.Cut(strings.TrimSpace(string(b)), "/")
	si, err1 := strconv.Atoi(i)
	sn, err2 := strconv.Atoi(n)
	if !ok || err1 != nil || err2 != nil {
		return fmt.Errorf("shard %q: want I/N with 0 <= I < N, e.g. 0/4", b)
	}
	seg := Segment{Index: si, Count: sn}
	if err := seg.Valid(); err != nil {
		return err
	}
	*s = seg
	return nil
}

// Largest returns the most cameras any segment of l split n ways holds:
// what one process of such a split must hold.
func Largest(l *Layout, n int) int {
	most := 0
	for _, s := range Split(n) {
		most = max(most, s.Cameras(l))
	}
	return most
}

// IndexedSegment is segment index of count, index being the text of a
// Kubernetes Indexed Job's JOB_COMPLETION_INDEX.
func IndexedSegment(index string, count int) (Segment, error) {
	i, err := strconv.Atoi(index)
	s := Segment{Index: i, Count: count}
	if err != nil || s.Valid() != nil {
		return Segment{}, fmt.Errorf("--shards %d takes the shard's index from JOB_COMPLETION_INDEX, which is %q: want 0 to %d (or use --shard I/N)", count, index, count-1)
	}
	return s, nil
}
