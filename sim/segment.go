package sim

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
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

// Sharding is how a command line picks a drill's shard and its start:
// --shard I/N, or --shards N with the index from a Kubernetes Indexed
// Job, and --start-at.
type Sharding struct {
	Shard   string // "I/N", from 0
	Shards  int    // N, the index from Index
	Index   string // the text of $JOB_COMPLETION_INDEX
	StartAt string // an RFC 3339 instant, "" for now
	// Embedded is a drill of the built-in target; Keyed one with the
	// run's key from a file, which every shard must share.
	Embedded, Keyed bool
}

// Apply sets d's segment and start. A shard that starts now, and so not
// with the others, is allowed with a warning.
func (s Sharding) Apply(d *Drill, now time.Time) (warning string, err error) {
	switch {
	case s.Shard != "" && s.Shards != 0:
		return "", errors.New("give --shard I/N or --shards N, not both")
	case s.Shard != "":
		if err := d.Segment.UnmarshalText([]byte(s.Shard)); err != nil {
			return "", fmt.Errorf("--shard: %w", err)
		}
	case s.Shards != 0:
		if d.Segment, err = IndexedSegment(s.Index, s.Shards); err != nil {
			return "", err
		}
	}
	if !d.Segment.IsWhole() {
		if s.Embedded {
			return "", errors.New("--shard needs --target: the shards of a run must drill one target (start one with 'herd target')")
		}
		if !s.Keyed {
			return "", errors.New("--shard needs --key-file: every shard must seal and check provenance with one key (make one with 'herd key > key.hex')")
		}
	}
	if s.StartAt == "" {
		if !d.Segment.IsWhole() {
			warning = "warning: --shard without --start-at starts now; other shards will not be simultaneous"
		}
		return warning, nil
	}
	t, err := ParseInstant(s.StartAt)
	if err != nil {
		return "", err
	}
	if late := now.Sub(t); late > 0 {
		return "", fmt.Errorf("--start-at %s is %s in the past: the shards would not start together; give a later instant", s.StartAt, late.Round(time.Second))
	}
	d.Start = t
	return "", nil
}

// ParseInstant reads --start-at.
func ParseInstant(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return t, fmt.Errorf("--start-at %q is not an RFC 3339 instant such as 2026-12-01T10:00:00Z", s)
	}
	return t, nil
}
