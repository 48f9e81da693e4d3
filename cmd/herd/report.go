package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/herd-drill/herd/reports"
)

func init() { subcommands = append(subcommands, newReportCmd) }

// reportFlags are the report files a command writes from a Result; herd
// report has them, and herd run can take the same flags.
type reportFlags struct {
	html     string // one self-contained HTML page
	junit    string // JUnit XML for CI test reporters
	hgrm     string // a directory: NAME.hgrm per latency histogram
	evidence string // JSON Lines of the evidence records
}

// files are the report files rf asks for.
func (rf *reportFlags) files() reports.Files {
	return reports.Files{HTML: rf.html, JUnit: rf.junit, HGRM: rf.hgrm, Evidence: rf.evidence}
}

// addReportFlags adds --html, --junit, --hgrm and --evidence to fs.
func addReportFlags(fs *pflag.FlagSet, rf *reportFlags) {
	fs.StringVar(&rf.evidence, "evidence", "", "write the evidence records as JSON Lines here (herd run: every record, in the order found; from a result: those it kept)")
	fs.StringVar(&rf.html, "html", "", "write the HTML report here: one self-contained page (charts, evidence, scenario) that fetches nothing")
	fs.StringVar(&rf.junit, "junit", "", "write JUnit XML here, for CI test reporters: a test case per threshold and per violation class")
	fs.StringVar(&rf.hgrm, "hgrm", "", "write each latency histogram into this directory as NAME.hgrm (HdrHistogram percentile text, in ms; created if absent)")
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
			if err := rf.files().Check(); err != nil {
				return usagef(c, err)
			}
			r, err := reports.ReadFile(args[0])
			if err != nil {
				return usagef(c, err)
			}
			if err := reports.WriteSummary(c.OutOrStdout(), r); err != nil {
				return err
			}
			if err := reports.WriteFiles(r, rf.files()); err != nil {
				return err
			}
			rf.files().Wrote(c.ErrOrStderr(), r)
			return nil
		},
	}
	addReportFlags(c.Flags(), &rf)
	return c
}
