package main

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/herd-drill/herd/scenarios"
	"github.com/herd-drill/herd/sim/backoff"
	"github.com/herd-drill/herd/sim/cloud"
)

// completions teaches shell completion ('herd completion bash|zsh|fish')
// herd's own words: scenario names (or a file), policies and faults.
func completions(c *cobra.Command) {
	switch c.CommandPath() {
	case "herd run", "herd capacity", "herd k8s", "herd scenarios show":
		c.ValidArgsFunction = func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var names []string
			for _, b := range scenarios.Builtins() {
				names = append(names, b.Name)
			}
			return names, cobra.ShellCompDirectiveDefault
		}
	}
	var policies []string
	for _, k := range backoff.Kinds() {
		policies = append(policies, k.String())
	}
	_ = c.RegisterFlagCompletionFunc("policy", cobra.FixedCompletions(policies, cobra.ShellCompDirectiveNoFileComp))
	for _, name := range []string{"target-fault", "fault"} {
		_ = c.RegisterFlagCompletionFunc(name, func(_ *cobra.Command, _ []string, typed string) ([]string, cobra.ShellCompDirective) {
			done := typed[:strings.LastIndex(typed, ",")+1] // a comma-separated list: complete its last item
			var out []string
			for _, f := range cloud.AllFaults() {
				if !strings.Contains(","+done, ","+string(f)+",") {
					out = append(out, done+string(f))
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
		})
	}
	for _, sub := range c.Commands() {
		completions(sub)
	}
}
