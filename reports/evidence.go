package reports

import (
	"bufio"
	"container/heap"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/herd-drill/herd/internal/atomicfile"
	"github.com/herd-drill/herd/sim/oracle"
)

// WriteEvidence writes evidence records as JSON Lines, one record a line.
func WriteEvidence(w io.Writer, evs []oracle.Evidence) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for _, e := range evs {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// EvidenceFile takes every evidence record of a drill as the oracle finds
// it and writes it to a JSON Lines file, which appears whole at Close (or,
// after Abort, not at all). It is safe for concurrent use.
type EvidenceFile struct {
	mu  sync.Mutex
	f   *atomicfile.File
	bw  *bufio.Writer
	enc *json.Encoder
	n   int64
	err error
}

// CreateEvidence starts the evidence file at path.
func CreateEvidence(path string) (*EvidenceFile, error) {
	f, err := atomicfile.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--evidence %s: %w", path, err)
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	return &EvidenceFile{f: f, bw: bw, enc: json.NewEncoder(bw)}, nil
}

// Add writes one record.
func (e *EvidenceFile) Add(ev oracle.Evidence) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err == nil {
		e.err = e.enc.Encode(ev)
		e.n++
	}
}

// Close puts the file in place and says how many records it holds.
func (e *EvidenceFile) Close() (int64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	err := e.err
	if err == nil {
		err = e.bw.Flush()
	}
	if err != nil {
		e.f.Abort()
		return e.n, err
	}
	return e.n, e.f.Commit()
}

// MergeEvidence writes the records of parts (JSON Lines files, each in
// the order its process found them) to path, earliest first, as one JSON
// Lines file written atomically. It says how many records it wrote.
func MergeEvidence(path string, parts []string) (int64, error) {
	var q evidenceQueue
	for _, p := range parts {
		f, err := os.Open(p)
		if err != nil {
			continue // a worker that died before writing any: its evidence is gone with it
		}
		defer f.Close()
		s := &evidenceStream{dec: json.NewDecoder(bufio.NewReader(f)), name: p}
		if s.next() {
			q = append(q, s)
		} else if s.err != nil {
			return 0, s.err
		}
	}
	heap.Init(&q)
	var n int64
	err := atomicfile.Write(path, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 64<<10)
		enc := json.NewEncoder(bw)
		for q.Len() > 0 {
			s := q[0]
			if err := enc.Encode(s.cur); err != nil {
				return err
			}
			n++
			if s.next() {
				heap.Fix(&q, 0)
			} else {
				if s.err != nil {
					return s.err
				}
				heap.Pop(&q)
			}
		}
		return bw.Flush()
	})
	return n, err
}

type evidenceStream struct {
	dec  *json.Decoder
	name string
	cur  oracle.Evidence
	err  error
}

func (s *evidenceStream) next() bool {
	s.cur = oracle.Evidence{}
	if err := s.dec.Decode(&s.cur); err != nil {
		if err != io.EOF {
			s.err = fmt.Errorf("%s: %w", s.name, err)
		}
		return false
	}
	return true
}

// evidenceQueue is the streams by their next record's time.
type evidenceQueue []*evidenceStream

func (q evidenceQueue) Len() int           { return len(q) }
func (q evidenceQueue) Less(i, j int) bool { return q[i].cur.AtMs < q[j].cur.AtMs }
func (q evidenceQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *evidenceQueue) Push(x any)        { *q = append(*q, x.(*evidenceStream)) }
func (q *evidenceQueue) Pop() any {
	old := *q
	s := old[len(old)-1]
	*q = old[:len(old)-1]
	return s
}
