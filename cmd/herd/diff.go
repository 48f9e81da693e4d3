package main

import (
	"github.com/spf13/cobra"

	"github.com/herd-drill/herd/internal/exitcode"
	"github.com/herd-drill/herd/reports"
)

func init() { subcommands = append(subcommands, newDiffCmd) }

func newDiffCmd() *cobra.Command {
	var (
		html  string
		rules []string
	)
	c := &cobra.Command{
		Use:   "diff BASE.json NEW.json",
		Short: "Compare two drills' results side by side, and fail on a regression",
		Long: `diff sets two herd.result/v1 files side by side: violations and exposure,
recovery, latency percentiles, errors and shedding, each with its change —
for a nightly soak against last night's, or a release against the last.

Each --fail-on rule is METRIC OP LIMIT, LIMIT in the metric's unit (60s, 1%,
10) or relative to the base: F*base, base*F, base+V or base-V. A rule that
holds is a regression, and diff then exits 3. Metrics: herd scenarios metrics.`,
		Example: `  herd diff last-night.json tonight.json
  herd diff base.json new.json --fail-on 'recovery.t99 > 1.1*base' --fail-on 'errors.rate > base+0.5%'
  herd diff base.json new.json --fail-on 'exposure.victims > 0' --html diff.html`,
		Args: cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			parsed, err := reports.ParseRules(rules)
			if err != nil {
				return usagef(c, err)
			}
			if err := (reports.Files{HTML: html}).Check(); err != nil {
				return usagef(c, err)
			}
			var rs [2]*reports.Result
			for i, name := range args {
				if rs[i], err = reports.ReadFile(name); err != nil {
					return usagef(c, err)
				}
			}
			d := reports.NewDiff(rs[0], rs[1], args[0], args[1], parsed)
			if err := reports.WriteDiffText(c.OutOrStdout(), d); err != nil {
				return err
			}
			if html != "" {
				if err := reports.WriteDiffFile(html, d); err != nil {
					return err
				}
			}
			if d.Regressed() {
				return exitcode.With(exitcode.Failed, nil)
			}
			return nil
		},
	}
	c.Flags().StringVar(&html, "html", "", "also write the comparison as an HTML page here")
	c.Flags().StringArrayVar(&rules, "fail-on", nil, "a regression rule, METRIC OP LIMIT (repeatable); exit 3 when one holds")
	return c
}
