package reports

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"

	"github.com/herd-drill/herd/internal/atomicfile"
)

// Files are the report files to write from a Result; "" skips one.
type Files struct {
	JSON  string // the herd.result/v1 document
	HTML  string // one self-contained page
	JUnit string // JUnit XML for CI test reporters
	HGRM  string // a directory: NAME.hgrm per latency histogram
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
