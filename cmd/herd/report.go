package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/herd-drill/herd/internal/atomicfile"
	"github.com/herd-drill/herd/reports"
)

func init() { subcommands = append(subcommands, newReportCmd) }

// reportFlags are the report files a command writes from a Result; herd
// report has them, and herd run can take the same flags.
type reportFlags struct {
	html  string // one self-contained HTML page
	junit string // JUnit XML for CI test reporters
	hgrm  string // a directory: NAME.hgrm per latency histogram
}

// addReportFlags adds --html, --junit and --hgrm to fs.
func addReportFlags(fs *pflag.FlagSet, rf *reportFlags) {
	fs.StringVar(&rf.html, "html", "", "write the HTML report here: one self-contained page (charts, evidence, scenario) that fetches nothing")
	fs.StringVar(&rf.junit, "junit", "", "write JUnit XML here, for CI test reporters: a test case per threshold and per violation class")
	fs.StringVar(&rf.hgrm, "hgrm", "", "write each latency histogram into this directory as NAME.hgrm (HdrHistogram percentile text, in ms; created if absent)")
}

// plainName is what a histogram's name must look like to become a file
// name: a result file is input, and its names must not reach outside --hgrm.
var plainName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// writeReports writes the files rf asks for from r, each atomically. It
// writes every file it can and returns every failure, each naming its file
// and what to do about it.
func writeReports(r *reports.Result, rf *reportFlags) error {
	var errs []error
	write := func(path, what string, fn func(io.Writer) error) {
		if err := atomicfile.Write(path, fn); err != nil {
			errs = append(errs, fmt.Errorf("writing the %s %s: %w (check that its directory exists and is writable)", what, path, err))
		}
	}
	if rf.html != "" {
		write(rf.html, "HTML report", func(w io.Writer) error { return reports.WriteHTML(w, r) })
	}
	if rf.junit != "" {
		write(rf.junit, "JUnit report", func(w io.Writer) error { return reports.WriteJUnit(w, r) })
	}
	if rf.hgrm != "" {
		if err := os.MkdirAll(rf.hgrm, 0o755); err != nil {
			errs = append(errs, fmt.Errorf("creating the --hgrm directory %s: %w (pass a directory herd can create or write in)", rf.hgrm, err))
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
				write(filepath.Join(rf.hgrm, name+".hgrm"), "histogram", func(w io.Writer) error { return reports.WriteHgrm(w, l) })
			}
		}
	}
	return errors.Join(errs...)
}

func newReportCmd() *cobra.Command {
	var rf reportFlags
	c := &cobra.Command{
		Use:   "report RESULT.json",
		Short: "Render a drill's result as HTML, JUnit XML and .hgrm files",
		Long: `Read a herd.result/v1 file (what 'herd run --out' writes), print its summary
to stdout, and write the report files asked for:

  --html FILE   one self-contained page for people: the verdict and failed
                thresholds first, the recovery curve, connects, errors,
                violations and latency over time, the evidence, the scenario,
                the fleet and herd's own health. It fetches nothing and prints.
  --junit FILE  JUnit XML for CI test reporters: a test case per threshold,
                per violation class and for the run, with the evidence.
  --hgrm DIR    each latency histogram as DIR/NAME.hgrm, HdrHistogram's
                percentile text in milliseconds, for its plotter.

Files are written atomically. It exits 0 when every file was written,
whatever the drill's verdict: the verdict's exit code is herd run's.`,
		Example: `  herd run --out result.json; herd report result.json --html report.html
  herd report result.json --junit junit.xml --hgrm hgrm/`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			r, err := loadResult(args[0])
			if err != nil {
				return usagef(c, err)
			}
			if err := reports.WriteSummary(c.OutOrStdout(), r); err != nil {
				return err
			}
			if err := writeReports(r, &rf); err != nil {
				return err
			}
			for _, f := range []struct{ path, what string }{{rf.html, "HTML report"}, {rf.junit, "JUnit report"}} {
				if f.path != "" {
					fmt.Fprintf(c.ErrOrStderr(), "herd: wrote the %s to %s\n", f.what, f.path)
				}
			}
			if rf.hgrm != "" {
				fmt.Fprintf(c.ErrOrStderr(), "herd: wrote %d .hgrm histograms to %s\n", len(r.Latency), rf.hgrm)
			}
			return nil
		},
	}
	addReportFlags(c.Flags(), &rf)
	return c
}

// loadResult reads a herd.result/v1 file for herd report; its errors name
// the file and what to pass instead.
func loadResult(path string) (*reports.Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading the result: %w (pass the file that 'herd run --out' wrote)", err)
	}
	defer f.Close()
	r, err := reports.ReadJSON(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (pass a %s file, as 'herd run --out' writes)", path, err, reports.Schema)
	}
	return r, nil
}
