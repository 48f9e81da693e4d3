package live

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/herd-drill/herd/catalog"
)

// DefaultEvery is how often a Progress prints a line when its writer is not
// a terminal: often enough to follow a drill in a CI log, rare enough that
// a long drill's log stays short.
const DefaultEvery = 10 * time.Second

// Display widths. A real terminal's own width wins over lineWidth; it
// matters when the output is not a terminal (tests, a pipe).
const (
	lineWidth = 120
	barWidth  = 30
)

// IsTerminal reports whether f is a terminal, where a Progress can redraw
// its block in place.
func IsTerminal(f *os.File) bool { return f != nil && term.IsTerminal(int(f.Fd())) }

// Progress shows a drill's Status to a person: on a terminal a block of two
// lines redrawn in place (phase, elapsed time, a bar of connected cameras,
// connects per second, events acked; then errors and violations by class),
// elsewhere one plain line every interval of drill time, and nothing when
// quiet. Its methods may be called from any goroutine; an Update after
// Close is ignored, a Write goes straight to the writer.
type Progress struct {
	w        io.Writer
	terminal bool
	every    time.Duration
	quiet    bool

	mu      sync.Mutex
	last    Status
	updated bool
	closed  bool

	// line mode
	next    time.Duration // drill time of the next line
	printed bool          // the last Status has been printed

	// terminal mode, started by the first Update
	p       *mpb.Progress
	bar     *mpb.Bar
	refresh chan any // size one: refreshes that pile up are one refresh
}

// NewProgress returns a Progress writing to w, which is a terminal if
// isTerminal (see IsTerminal). Without a terminal it prints a line at the
// first Update and then whenever the drill's Elapsed passes the next
// multiple of every (DefaultEvery if every is not positive); on a terminal
// every Update redraws the block, so the caller's Update rate is the
// refresh rate. If quiet it prints no progress at all.
func NewProgress(w io.Writer, isTerminal bool, every time.Duration, quiet bool) *Progress {
	if every <= 0 {
		every = DefaultEvery
	}
	return &Progress{w: w, terminal: isTerminal, every: every, quiet: quiet}
}

// Update shows s: on a terminal at once, elsewhere when its line is due.
func (pr *Progress) Update(s Status) {
	if pr.quiet {
		return
	}
	pr.mu.Lock()
	if pr.closed {
		pr.mu.Unlock()
		return
	}
	pr.last, pr.updated = s, true
	if !pr.terminal {
		if s.Elapsed >= pr.next {
			pr.printLocked()
		} else {
			pr.printed = false
		}
		pr.mu.Unlock()
		return
	}
	if pr.p == nil {
		pr.startLocked()
	}
	bar := pr.bar
	pr.mu.Unlock()
	// The bar's total and current live in mpb's goroutines; the texts
	// around it are read from pr.last under pr.mu.
	bar.SetTotal(max(s.Cameras, 0), false)
	bar.SetCurrent(max(s.Connected, 0))
	select {
	case pr.refresh <- nil:
	default:
	}
}

// startLocked starts the terminal display.
func (pr *Progress) startLocked() {
	pr.refresh = make(chan any, 1)
	// Manual refresh: the display changes when a Status comes, so it is
	// redrawn then and only then, and mpb renders even when w is not a
	// file (a test's buffer, a terminal behind a wrapper).
	pr.p = mpb.New(mpb.WithOutput(pr.w), mpb.WithWidth(lineWidth), mpb.WithManualRefresh(pr.refresh))
	// Total 0 never completes the bar: connected goes up and down through
	// outages, and a bar that completed would stop drawing.
	pr.bar = pr.p.New(0, mpb.BarStyle(),
		mpb.BarWidth(barWidth),
		mpb.PrependDecorators(decor.Any(func(decor.Statistics) string { return pr.head() })),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return pr.tail() })),
		mpb.BarBtmExtender(mpb.BarFillerFunc(pr.detail)),
	)
}

// printLocked prints the last Status as one line and schedules the next.
func (pr *Progress) printLocked() {
	fmt.Fprintln(pr.w, "herd: "+statusLine(pr.last))
	pr.printed = true
	pr.next = (pr.last.Elapsed/pr.every + 1) * pr.every
}

// Write writes b to the Progress's writer, above the block on a terminal
// so that log lines and the live display do not overwrite each other.
func (pr *Progress) Write(b []byte) (int, error) {
	pr.mu.Lock()
	p, refresh := pr.p, pr.refresh
	if pr.closed {
		p = nil
	}
	pr.mu.Unlock()
	if p == nil {
		return pr.w.Write(b)
	}
	n, err := p.Write(b)
	if n == 0 && err != nil { // Close stopped the display meanwhile
		return pr.w.Write(b)
	}
	// mpb prints what it was given at its next redraw: ask for one now.
	select {
	case refresh <- nil:
	default:
	}
	return n, err
}

// Close shows the last Status if it has not been shown, leaves the final
// display in place, and returns once the display has stopped.
func (pr *Progress) Close() {
	if pr.quiet {
		return
	}
	pr.mu.Lock()
	if pr.closed {
		pr.mu.Unlock()
		return
	}
	pr.closed = true
	if !pr.terminal && pr.updated && !pr.printed {
		pr.printLocked()
	}
	p, bar := pr.p, pr.bar
	pr.mu.Unlock()
	if p != nil {
		bar.Abort(false) // keeps the block and draws it one last time
		p.Wait()
	}
}

// head is the text left of the bar.
func (pr *Progress) head() string {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return fmt.Sprintf("herd: %-9s %6.1fs", orDash(pr.last.Phase), pr.last.Elapsed.Seconds())
}

// tail is the text right of the bar.
func (pr *Progress) tail() string {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	s := pr.last
	return fmt.Sprintf("connected %d/%d  connects/s %.0f  acked %d", s.Connected, s.Cameras, s.ConnectsPerSec, s.EventsAcked)
}

// detail writes the line under the bar: errors and violations by class.
func (pr *Progress) detail(w io.Writer, st decor.Statistics) error {
	pr.mu.Lock()
	line := "      " + problems(pr.last)
	pr.mu.Unlock()
	if n := max(st.AvailableWidth, 0); len(line) > n { // ASCII: bytes are columns
		if n > 3 {
			line = line[:n-3] + "..."
		} else {
			line = line[:n]
		}
	}
	_, err := io.WriteString(w, line+"\n")
	return err
}

// statusLine is a Status as one line of text.
func statusLine(s Status) string {
	return fmt.Sprintf("%-9s %6.1fs  connected %d/%d  connects/s %.0f  acked %d  %s",
		orDash(s.Phase), s.Elapsed.Seconds(), s.Connected, s.Cameras, s.ConnectsPerSec, s.EventsAcked, problems(s))
}

// problems is the errors, violations and dead workers of s, each class
// with its count, largest first.
func problems(s Status) string {
	var b strings.Builder
	if s.TargetDown != "" {
		fmt.Fprintf(&b, "%s  ", strings.ToUpper(s.TargetDown[:1])+s.TargetDown[1:])
	}
	errs, shed := map[string]int64{}, map[string]int64{}
	for c, n := range s.ErrorsByClass {
		if catalog.IsShed(c) {
			shed[c] = n
		} else {
			errs[c] = n
		}
	}
	fmt.Fprintf(&b, "errors %d%s  shed %d%s  violations %d%s", s.Errors, classes(s.Errors, errs), s.Shed, classes(s.Shed, shed),
		s.Violations, classes(s.Violations, s.ViolationsByClass))
	if s.WorkersDead > 0 {
		fmt.Fprintf(&b, "  workers dead %d", s.WorkersDead)
	}
	return b.String()
}

// maxClasses is how many classes a line names before it says "...".
const maxClasses = 4

// classes is " (a 3, b 1)" for the non-zero classes of a total, or "".
func classes(total int64, m map[string]int64) string {
	var parts []string
	for _, c := range byClass(total, m) {
		if c.n == 0 {
			continue
		}
		if len(parts) == maxClasses {
			parts = append(parts, "...")
			break
		}
		parts = append(parts, fmt.Sprintf("%s %d", c.class, c.n))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
