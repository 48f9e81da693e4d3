package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is a herd process this one started: a target cell or a fleet
// worker. Its stdout is read line by line by the caller; its stderr is kept
// (the last lines) for the report of its failure, and passed on when
// forward is set.
type child struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines *bufio.Scanner // stdout

	mu   sync.Mutex
	tail []string // the last lines of stderr
	done chan struct{}
	err  error // of Wait, once done is closed
}

// herdExe is the herd binary to start children from: this one.
func herdExe() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding herd's own binary to start worker processes: %w", err)
	}
	return exe, nil
}

// startChild starts herd with args. env is added to this process's
// environment. The child gets SIGTERM if this process dies (Linux), and
// closes when its stdin closes (workers watch it).
func startChild(name string, args []string, env []string, forward io.Writer) (*child, error) {
	exe, err := herdExe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = childAttr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	ch := &child{name: name, cmd: cmd, stdin: stdin, done: make(chan struct{})}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	ch.lines = sc
	var readers sync.WaitGroup
	readers.Go(func() {
		s := bufio.NewScanner(stderr)
		s.Buffer(make([]byte, 16<<10), 1<<20)
		for s.Scan() {
			line := s.Text()
			ch.mu.Lock()
			ch.tail = append(ch.tail, line)
			if len(ch.tail) > 20 {
				ch.tail = ch.tail[1:]
			}
			ch.mu.Unlock()
			if forward != nil {
				fmt.Fprintf(forward, "%s: %s\n", name, line)
			}
		}
	})
	go func() {
		readers.Wait() // Wait must not run before the pipes are drained
		ch.err = cmd.Wait()
		close(ch.done)
	}()
	return ch, nil
}

// pid is the child's process id.
func (ch *child) pid() int { return ch.cmd.Process.Pid }

// signal sends sig to the child, if it still runs.
func (ch *child) signal(sig os.Signal) {
	select {
	case <-ch.done:
	default:
		_ = ch.cmd.Process.Signal(sig)
	}
}

// stop asks the child to end (SIGTERM), and kills it after grace.
func (ch *child) stop(grace time.Duration) {
	ch.signal(syscall.SIGTERM)
	select {
	case <-ch.done:
	case <-time.After(grace):
		_ = ch.cmd.Process.Kill()
		<-ch.done
	}
}

// failure explains how the child ended: its exit status and its last
// lines of stderr.
func (ch *child) failure() string {
	<-ch.done
	ch.mu.Lock()
	defer ch.mu.Unlock()
	msg := "exited"
	if ch.err != nil {
		msg = ch.err.Error()
	}
	var ee *exec.ExitError
	if errors.As(ch.err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			msg = "killed by signal " + ws.Signal().String()
		}
	}
	msg = fmt.Sprintf("%s (pid %d) %s", ch.name, ch.pid(), msg)
	if n := len(ch.tail); n > 0 {
		msg += ": " + strings.Join(ch.tail[max(0, n-3):], " | ")
	}
	return msg
}

// cellGroup is the target cells this process started.
type cellGroup struct {
	urls  []string
	token string
	cells []*child
}

// startCells starts n reference-target processes ('herd target') on
// consecutive ports from basePort (or on free ports, with basePort 0) of
// host, all with one admin token, and waits until each has printed its
// base URL. extra are further 'herd target' flags (faults, limits).
func startCells(ctx context.Context, n int, host string, basePort int, token string, extra []string, forward io.Writer) (*cellGroup, error) {
	g := &cellGroup{token: token}
	for i := 0; i < n; i++ {
		port := 0
		if basePort != 0 {
			port = basePort + i
		}
		args := append([]string{"target", "--listen", fmt.Sprintf("%s:%d", host, port)}, extra...)
		ch, err := startChild(fmt.Sprintf("cell %d", i), args, []string{"HERD_ADMIN_TOKEN=" + token}, forward)
		if err != nil {
			g.stop()
			return nil, err
		}
		g.cells = append(g.cells, ch)
	}
	for _, ch := range g.cells {
		url, err := readListening(ctx, ch)
		if err != nil {
			g.stop()
			return nil, err
		}
		g.urls = append(g.urls, url)
		go func() { // keep its stdout drained
			for ch.lines.Scan() {
			}
		}()
	}
	return g, nil
}

// readListening reads the target's first line, "herd target listening on
// URL admin-token=…", and returns URL.
func readListening(ctx context.Context, ch *child) (string, error) {
	got := make(chan string, 1)
	go func() {
		if ch.lines.Scan() {
			got <- ch.lines.Text()
		}
		close(got)
	}()
	select {
	case line, ok := <-got:
		if !ok {
			return "", fmt.Errorf("target %s did not start: %s", ch.name, ch.failure())
		}
		rest, ok := strings.CutPrefix(line, "herd target listening on ")
		url, _, ok2 := strings.Cut(rest, " ")
		if !ok || !ok2 {
			return "", fmt.Errorf("target %s printed %q, not its address", ch.name, line)
		}
		return url, nil
	case <-ctx.Done():
		return "", ctx.Err()
	case <-time.After(30 * time.Second):
		return "", fmt.Errorf("target %s did not start within 30 s", ch.name)
	}
}

// stop ends every cell (SIGTERM: each closes its sockets with 1001).
func (g *cellGroup) stop() {
	var wg sync.WaitGroup
	for _, ch := range g.cells {
		wg.Go(func() { ch.stop(15 * time.Second) })
	}
	wg.Wait()
}

// dead returns the failures of the cells that have ended.
func (g *cellGroup) dead() []string {
	var out []string
	for _, ch := range g.cells {
		select {
		case <-ch.done:
			out = append(out, ch.failure())
		default:
		}
	}
	return out
}
