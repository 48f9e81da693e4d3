package scenarios

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteList writes the built-in scenarios to w, a name and a description
// per line, the default marked.
func WriteList(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, b := range builtins() {
		desc := b.Description
		if b.Name == Default {
			desc += " (default)"
		}
		fmt.Fprintf(tw, "%s\t%s\n", b.Name, desc)
	}
	return tw.Flush()
}

// WriteMetrics writes the metrics thresholds can test to w, with their
// units and meanings.
func WriteMetrics(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "METRIC\tUNIT\tMEANING")
	for _, m := range Metrics() {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", m.Name, m.Unit, m.Help)
	}
	return tw.Flush()
}

// NoBuiltin is the error for a built-in name that does not exist.
func NoBuiltin(name string) error {
	return fmt.Errorf("no built-in scenario %q; built-ins: %s (for a file, use --resolved)", name, strings.Join(builtinNames(), ", "))
}

// PrintErrors writes each problem err holds to w on its own line and
// returns how many there were.
func PrintErrors(w io.Writer, err error) int {
	errs := Errors(err)
	for _, e := range errs {
		fmt.Fprintln(w, e)
	}
	return len(errs)
}

// Count is "N error" or "N errors".
func Count(n int) string {
	if n == 1 {
		return "1 error"
	}
	return fmt.Sprintf("%d errors", n)
}
