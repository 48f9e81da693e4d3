package procs

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
)

// Parent is a child's side of the handshake: what the herd process that
// started it said, and the way back to it.
type Parent struct {
	in   *bufio.Reader
	mu   sync.Mutex
	out  *json.Encoder
	gone chan struct{}
	once sync.Once
}

// FromParent returns the handshake with the herd process that started
// this one, or false when this process was not started by herd. stdin is
// where the parent writes.
func FromParent(stdin io.Reader) (*Parent, bool) {
	fd, err := strconv.Atoi(os.Getenv(fdEnv))
	if err != nil || fd < 3 {
		return nil, false
	}
	f := os.NewFile(uintptr(fd), "herd-procs")
	if f == nil {
		return nil, false
	}
	return &Parent{in: bufio.NewReader(stdin), out: json.NewEncoder(f), gone: make(chan struct{})}, true
}

// Input decodes the input the parent wrote (the first line of stdin).
func (p *Parent) Input(v any) error {
	if err := readLine(p.in, v); err != nil {
		return fmt.Errorf("reading the input from herd: %w", err)
	}
	return nil
}

// WaitStart reads when to start, and from then on watches stdin: Gone is
// closed when it closes, the parent being gone.
func (p *Parent) WaitStart(ctx context.Context) (time.Time, error) {
	got := make(chan error, 1)
	var sm startMsg
	go func() { got <- readLine(p.in, &sm) }()
	select {
	case err := <-got:
		if err != nil {
			return time.Time{}, fmt.Errorf("waiting for herd's start: %w", err)
		}
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	}
	go func() {
		_, _ = io.Copy(io.Discard, p.in)
		p.once.Do(func() { close(p.gone) })
	}()
	return sm.Start, nil
}

// Begin is the handshake of a child that waits for a start instant: it
// decodes the input into v, says it is ready, and returns the instant to
// start at. An error has been reported to the parent already.
func (p *Parent) Begin(ctx context.Context, v any) (time.Time, error) {
	if err := p.Input(v); err != nil {
		return time.Time{}, p.Fail(err)
	}
	p.Ready(nil)
	start, err := p.WaitStart(ctx)
	if err != nil {
		return time.Time{}, p.Fail(err)
	}
	return start, nil
}

// Gone is closed when the parent has gone (after WaitStart).
func (p *Parent) Gone() <-chan struct{} { return p.gone }

func (p *Parent) send(m Msg) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.out.Encode(m)
}

// Ready says the child is ready, with v (a cell's URL, say; nil for none).
func (p *Parent) Ready(v any) { p.send(Msg{Ready: raw(v, true)}) }

// Status reports v as the child's live status.
func (p *Parent) Status(v any) { p.send(Msg{Status: raw(v, false)}) }

// Done reports the child's result v.
func (p *Parent) Done(v any) { p.send(Msg{Done: raw(v, true)}) }

// Fail reports why the child failed, and returns err.
func (p *Parent) Fail(err error) error {
	p.send(Msg{Error: err.Error()})
	return err
}

// raw marshals v; an empty message is {} when always is set.
func raw(v any, always bool) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil || (string(b) == "null" && always) {
		return json.RawMessage("{}")
	}
	return b
}

// readLine decodes one line of r into v.
func readLine(r *bufio.Reader, v any) error {
	line, err := r.ReadBytes('\n')
	if len(line) == 0 && err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("stdin closed")
		}
		return err
	}
	return json.Unmarshal(line, v)
}
