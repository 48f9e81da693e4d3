package reports

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"

	"github.com/herd-drill/herd/internal/atomicfile"
)

// Files are the report files to write from a Result; "" skips one.
type Files struct {
	JSON  string // the herd.result/v1 document
	HTML  string // one self-contained page
	JUnit string // JUnit XML for CI test reporters
	HGRM  string // a directory: NAME.hgrm per latency histogram
	// Evidence is a JSON Lines file of the evidence records the result
	// kept (herd run writes every record there as the drill finds them).
	Evidence string
}

// Check says whether every file f names can be written, before the work
// that makes them: each error names the flag, the path and the remedy.
func (f Files) Check() error {
	var errs []error
	for _, c := range []struct{ flag, path string }{{"--out", f.JSON}, {"--html", f.HTML}, {"--junit", f.JUnit}, {"--evidence", f.Evidence}} {
		if c.path == "" {
			continue
		}
		if err := atomicfile.CheckFile(c.path); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: cannot write there: %w (create its directory, or pass another path)", c.flag, c.path, err))
		}
	}
	if f.HGRM != "" {
		if err := atomicfile.CheckDir(f.HGRM); err != nil {
			errs = append(errs, fmt.Errorf("--hgrm %s: cannot write there: %w (pass a directory herd can create or write in)", f.HGRM, err))
		}
	}
	return errors.Join(errs...)
}

// Fallback is where a result goes when its own path cannot be written at
// the end: the system's temporary directory, named after the run.
func Fallback(r *Result) string {
	name := "herd-result-" + time.Now().UTC().Format("20060102T150405") + ".json"
	if plainName.MatchString(r.Run) {
		name = "herd-result-" + r.Run + ".json"
	}
	return filepath.Join(os.TempDir(), name)
}

// plainName is what a histogram's name must look like to become a file
// name: a result file is input, and its names must not reach outside the
// .hgrm directory.
var plainName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// WriteFiles writes the files f names from r, each atomically. It writes
// every file it can and returns every failure, each naming its file and
// what to do about it.
func WriteFiles(r *Result, f Files) error {
	var errs []error
	write := func(path, what string, fn func(io.Writer) error) {
		if err := atomicfile.Write(path, fn); err != nil {
			errs = append(errs, fmt.Errorf("writing the %s %s: %w (check that its directory exists and is writable)", what, path, err))
		}
	}
	if f.JSON != "" {
		write(f.JSON, "result", func(w io.Writer) error { return WriteJSON(w, r) })
	}
	if f.HTML != "" {
		write(f.HTML, "HTML report", func(w io.Writer) error { return WriteHTML(w, r) })
	}
	if f.JUnit != "" {
		write(f.JUnit, "JUnit report", func(w io.Writer) error { return WriteJUnit(w, r) })
	}
	if f.Evidence != "" {
		write(f.Evidence, "evidence", func(w io.Writer) error { return WriteEvidence(w, r.Violations.Evidence) })
	}
	if f.HGRM != "" {
		if err := os.MkdirAll(f.HGRM, 0o755); err != nil {
			errs = append(errs, fmt.Errorf("creating the --hgrm directory %s: %w (pass a directory herd can create or write in)", f.HGRM, err))
		} else {
			names := make([]string, 0, len(r.Latency))
			for name := range r.Latency {
				names = append(names, name)
			}
			sort.Strings(names)
			for _, name := range names {
				if !plainName.MatchString(name) {
					errs = append(errs, fmt.Errorf("latency histogram %q: not a plain name, so no .hgrm file for it (is the result file intact?)", name))
					continue
				}
				l := r.Latency[name]
				write(filepath.Join(f.HGRM, name+".hgrm"), "histogram", func(w io.Writer) error { return WriteHgrm(w, l) })
			}
		}
	}
	return errors.Join(errs...)
}

// ReadFile reads a herd.result/v1 file; its errors name the file and what
// to pass instead.
func ReadFile(path string) (*Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading the result: %w (pass the file that 'herd run --out' wrote)", err)
	}
	defer f.Close()
	r, err := ReadJSON(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (pass a %s file, as 'herd run --out' writes)", path, err, Schema)
	}
	return r, nil
}

// Deliver writes r's files and then its summary to w. When a file cannot
// be written the result still goes somewhere: to Fallback, which the
// returned error names.
func Deliver(w io.Writer, r *Result, f Files) error {
	werr := WriteFiles(r, f)
	if werr != nil {
		fb := Fallback(r)
		if err := atomicfile.Write(fb, func(w io.Writer) error { return WriteJSON(w, r) }); err == nil {
			werr = fmt.Errorf("%w; the result is kept at %s", werr, fb)
		}
	}
	return errors.Join(WriteSummary(w, r), werr)
}

// Wrote tells w which of f's report files were written from r.
func (f Files) Wrote(w io.Writer, r *Result) {
	for _, x := range []struct{ path, what string }{{f.HTML, "the HTML report"}, {f.JUnit, "the JUnit report"}, {f.Evidence, "the evidence it kept"}} {
		if x.path != "" {
			fmt.Fprintf(w, "herd: wrote %s to %s\n", x.what, x.path)
		}
	}
	if f.HGRM != "" {
		fmt.Fprintf(w, "herd: wrote %d .hgrm histograms to %s\n", len(r.Latency), f.HGRM)
	}
}
