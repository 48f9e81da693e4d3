// Package procs runs herd's child processes — fleet workers, target cells,
// the floor benchmark's processes, the drills of a capacity sweep — every
// one of them herd's own binary, and speaks one machine-readable handshake
// with them.
//
// The handshake. The parent writes the child's input (JSON) as the first
// line of its stdin, and later, to children that wait for it, a start
// message naming one wall-clock instant for all of them. The child writes
// JSON lines to file descriptor 3: {"ready": …} once it is ready (a target
// cell names its URL in it), {"status": …} as often as it likes, and
// {"done": …} with its result, or {"error": "…"}. Its stdout and stderr
// stay its own; the last lines of stderr explain its death, should it die.
// A child whose stdin closes has lost its parent and ends; on Linux it also
// gets SIGTERM when the parent dies.
package procs

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// fdEnv names the environment variable that tells a child which file
// descriptor its messages go to.
const fdEnv = "HERD_PROCS_FD"

// Msg is one message of a child.
type Msg struct {
	Ready  json.RawMessage `json:"ready,omitempty"`
	Status json.RawMessage `json:"status,omitempty"`
	Done   json.RawMessage `json:"done,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// startMsg is the parent's second line to a child: when to start.
type startMsg struct {
	Start time.Time `json:"start"`
}

// Spec says how to start a child.
type Spec struct {
	// Name names the child in messages ("worker 3", "cell 0").
	Name string
	// Args is herd's command line after the binary.
	Args []string
	// Env is added to this process's environment.
	Env []string
	// Input, when set, is written to the child's stdin as its first line
	// (JSON): anything secret goes here, never onto a command line.
	Input any
	// Forward, when set, gets the child's stderr lines, prefixed with Name.
	Forward io.Writer
	// Stdout, when set, gets the child's stdout; otherwise it is dropped.
	Stdout io.Writer
}

// Child is a started child process.
type Child struct {
	Name string

	cmd   *exec.Cmd
	stdin io.WriteCloser
	msgs  chan Msg

	mu   sync.Mutex
	tail []string // the last lines of stderr
	done chan struct{}
	err  error // of Wait, once done is closed
}

// exe is the binary to start children from: this one.
func exe() (string, error) {
	p, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding herd's own binary to start its child processes: %w", err)
	}
	return p, nil
}

// Start starts the child spec describes. Many herd processes sharing a few
// cores run with one P each (GOMAXPROCS=1, unless set), so that their
// runtimes do not spin against each other.
func Start(spec Spec) (*Child, error) {
	bin, err := exe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, spec.Args...)
	cmd.Env = append(os.Environ(), spec.Env...)
	if os.Getenv("GOMAXPROCS") == "" && runtime.NumCPU() <= 4 {
		cmd.Env = append(cmd.Env, "GOMAXPROCS=1")
	}
	mr, mw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.ExtraFiles = []*os.File{mw}
	cmd.Env = append(cmd.Env, fdEnv+"=3")
	cmd.SysProcAttr = childAttr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = spec.Stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		mr.Close()
		mw.Close()
		return nil, fmt.Errorf("starting %s: %w", spec.Name, err)
	}
	mw.Close() // the child holds its end
	c := &Child{Name: spec.Name, cmd: cmd, stdin: stdin, msgs: make(chan Msg, 16), done: make(chan struct{})}
	var readers sync.WaitGroup
	readers.Go(func() {
		s := bufio.NewScanner(stderr)
		s.Buffer(make([]byte, 16<<10), 1<<20)
		for s.Scan() {
			line := s.Text()
			c.mu.Lock()
			c.tail = append(c.tail, line)
			if len(c.tail) > 20 {
				c.tail = c.tail[1:]
			}
			c.mu.Unlock()
			if spec.Forward != nil {
				fmt.Fprintf(spec.Forward, "%s: %s\n", spec.Name, line)
			}
		}
	})
	readers.Go(func() {
		defer close(c.msgs)
		defer mr.Close()
		s := bufio.NewScanner(mr)
		s.Buffer(make([]byte, 64<<10), 16<<20)
		for s.Scan() {
			var m Msg
			if json.Unmarshal(s.Bytes(), &m) == nil {
				c.msgs <- m
			}
		}
	})
	go func() {
		readers.Wait() // Wait must not run before the pipes are drained
		c.err = cmd.Wait()
		close(c.done)
	}()
	if spec.Input != nil {
		if err := c.send(spec.Input); err != nil {
			c.Stop(time.Second)
			return nil, fmt.Errorf("%s: writing its input: %s", spec.Name, c.Failure())
		}
	}
	return c, nil
}

func (c *Child) send(v any) error {
	line, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = c.stdin.Write(append(line, '\n'))
	return err
}

// Messages returns the child's messages; the channel closes when the child
// closes its end (it has exited, or is about to). Read it, or the child
// blocks once a few are queued.
func (c *Child) Messages() <-chan Msg { return c.msgs }

// StartAt tells the child to start at t.
func (c *Child) StartAt(t time.Time) error { return c.send(startMsg{Start: t}) }

// PID is the child's process id.
func (c *Child) PID() int { return c.cmd.Process.Pid }

// Done is closed once the child has exited.
func (c *Child) Done() <-chan struct{} { return c.done }

// Alive reports whether the child still runs.
func (c *Child) Alive() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// Signal sends sig to the child, if it still runs.
func (c *Child) Signal(sig os.Signal) {
	if c.Alive() {
		_ = c.cmd.Process.Signal(sig)
	}
}

// Stop asks the child to end (SIGTERM), and kills it after grace.
func (c *Child) Stop(grace time.Duration) {
	c.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(grace):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// Failure waits for the child to exit and explains how it ended: its exit
// status and its last lines of stderr.
func (c *Child) Failure() string {
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	msg := "exited"
	if c.err != nil {
		msg = c.err.Error()
	}
	var ee *exec.ExitError
	if errors.As(c.err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			msg = "killed by signal " + ws.Signal().String()
		}
	}
	msg = fmt.Sprintf("%s (pid %d) %s", c.Name, c.PID(), msg)
	if n := len(c.tail); n > 0 {
		msg += ": " + strings.Join(c.tail[max(0, n-3):], " | ")
	}
	return msg
}

// ExitCode is the child's exit code once it has exited (-1 if killed).
func (c *Child) ExitCode() int {
	<-c.done
	return c.cmd.ProcessState.ExitCode()
}

// Outcome is what became of one child of a Group.
type Outcome struct {
	Done    json.RawMessage // its done message; nil when it sent none
	Error   string          // its error message, if it sent one
	Failure string          // how it ended when it did not finish: exit status and stderr
	PID     int
}

// Group is children that run one job together: each gets its input,
// says it is ready, and all start on one instant.
type Group struct {
	Children []*Child
	ready    []bool
	outcome  []Outcome
}

// StartGroup starts a child per spec; on an error it stops those already
// started.
func StartGroup(specs []Spec) (*Group, error) {
	g := &Group{}
	for _, s := range specs {
		c, err := Start(s)
		if err != nil {
			g.Stop(time.Second)
			return nil, err
		}
		g.Children = append(g.Children, c)
	}
	g.ready = make([]bool, len(g.Children))
	g.outcome = make([]Outcome, len(g.Children))
	for i, c := range g.Children {
		g.outcome[i].PID = c.PID()
	}
	return g, nil
}

// Ready waits until every child has said it is ready or has died, and
// returns each one's ready message (nil for the dead). It gives up when
// ctx ends or after timeout.
func (g *Group) Ready(ctx context.Context, timeout time.Duration) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, len(g.Children))
	deadline := time.After(timeout)
	for i, c := range g.Children {
		for !g.ready[i] {
			select {
			case m, ok := <-c.msgs:
				if !ok {
					g.ready[i] = true // dead before it was ready: Run reports it
					g.outcome[i].Failure = c.Failure()
					continue
				}
				g.take(i, m)
				if m.Ready != nil {
					out[i] = m.Ready
					g.ready[i] = true
				}
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-deadline:
				return nil, fmt.Errorf("%s not ready after %s", c.Name, timeout)
			}
		}
	}
	return out, nil
}

// take records what a message says of child i's end.
func (g *Group) take(i int, m Msg) {
	if m.Done != nil {
		g.outcome[i].Done = m.Done
	}
	if m.Error != "" {
		g.outcome[i].Error = m.Error
	}
}

// StartAt tells every living child to start at t.
func (g *Group) StartAt(t time.Time) {
	for _, c := range g.Children {
		if c.Alive() {
			_ = c.StartAt(t)
		}
	}
}

// Watch is how Run reports while the children run.
type Watch struct {
	// Status gets each status message, with its child's index.
	Status func(child int, status json.RawMessage)
	// Every, with Tick, calls Tick that often.
	Every time.Duration
	Tick  func()
}

// Run waits until every child has exited and returns what became of each.
// When ctx ends it sends every child SIGINT once (each then writes what it
// measured) and goes on waiting.
func (g *Group) Run(ctx context.Context, w Watch) []Outcome {
	type msg struct {
		i int
		m Msg
	}
	all := make(chan msg)
	var wg sync.WaitGroup
	for i, c := range g.Children {
		wg.Go(func() {
			for m := range c.msgs {
				all <- msg{i, m}
			}
			<-c.done
		})
	}
	ended := make(chan struct{})
	go func() { wg.Wait(); close(ended) }()
	var tick <-chan time.Time
	if w.Every > 0 && w.Tick != nil {
		t := time.NewTicker(w.Every)
		defer t.Stop()
		tick = t.C
	}
	intr := ctx.Done()
	for {
		select {
		case m := <-all:
			g.take(m.i, m.m)
			if m.m.Status != nil && w.Status != nil {
				w.Status(m.i, m.m.Status)
			}
		case <-intr:
			intr = nil
			g.Signal(syscall.SIGINT)
		case <-tick:
			w.Tick()
		case <-ended:
			for i, c := range g.Children {
				if g.outcome[i].Done == nil && g.outcome[i].Failure == "" {
					g.outcome[i].Failure = c.Failure()
				}
			}
			return g.outcome
		}
	}
}

// Signal sends sig to every living child.
func (g *Group) Signal(sig os.Signal) {
	for _, c := range g.Children {
		c.Signal(sig)
	}
}

// Stop ends every child (SIGTERM), killing those still there after grace.
func (g *Group) Stop(grace time.Duration) {
	var wg sync.WaitGroup
	for _, c := range g.Children {
		wg.Go(func() { c.Stop(grace) })
	}
	wg.Wait()
}

// Dead returns how the children that have exited ended.
func (g *Group) Dead() []string {
	var out []string
	for _, c := range g.Children {
		if !c.Alive() {
			out = append(out, c.Failure())
		}
	}
	return out
}

// Failed counts the children that have exited with a non-zero status
// or a signal: dead, not done.
func (g *Group) Failed() int {
	n := 0
	for _, c := range g.Children {
		if !c.Alive() && c.ExitCode() != 0 {
			n++
		}
	}
	return n
}

// Running counts the children still running.
func (g *Group) Running() int {
	n := 0
	for _, c := range g.Children {
		if c.Alive() {
			n++
		}
	}
	return n
}
