package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/herd-drill/herd/internal/exitcode"
	"github.com/herd-drill/herd/scenarios"
)

func init() { subcommands = append(subcommands, newScenariosCmd) }

func newScenariosCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "scenarios",
		Short: "List, show and validate drill scenarios",
		Long: `A scenario describes a drill: the simulated fleet, how cameras and app
users behave, how cameras reconnect, the phases (steady, outage, settle)
and the thresholds that fail it. herd has built-in scenarios; a scenario of
your own is a YAML file, best started from a built-in's source.

Without a subcommand, lists the built-in scenarios.`,
		Example: `  herd scenarios                                   # list the built-ins
  herd scenarios show aws-outage > my-drill.yaml   # start a scenario of your own
  herd scenarios show --resolved my-drill.yaml     # every default filled in
  herd scenarios validate my-drill.yaml            # every error, exit 2 if any
  herd scenarios metrics                           # what thresholds can test`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			err := fmt.Errorf("unknown command %q for %q", args[0], c.CommandPath())
			if s := c.SuggestionsFor(args[0]); len(s) > 0 {
				err = fmt.Errorf("%w; did you mean %s?", err, strings.Join(s, " or "))
			}
			return usagef(c, err)
		},
		RunE: func(c *cobra.Command, _ []string) error {
			return scenarios.WriteList(c.OutOrStdout())
		},
	}
	c.AddCommand(newScenariosShowCmd(), newScenariosValidateCmd(), newScenariosMetricsCmd())
	return c
}

func newScenariosShowCmd() *cobra.Command {
	var resolved bool
	c := &cobra.Command{
		Use:   "show NAME",
		Short: "Print a built-in scenario's YAML source",
		Long: `Prints the YAML source of a built-in scenario, comments included.

With --resolved, prints the scenario as herd will run it, every default
filled in; NAME may then also be a scenario file.`,
		Example: `  herd scenarios show aws-outage
  herd scenarios show aws-outage > my-drill.yaml
  herd scenarios show --resolved my-drill.yaml`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef(c, fmt.Errorf("want one scenario name, got %d arguments", len(args)))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			if resolved {
				s, err := scenarios.Load(args[0])
				if err != nil {
					return invalidScenario(c, args[0], err)
				}
				out, err := yaml.Marshal(s)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(c.OutOrStdout(), "# %s with every default filled in\n%s", s.Source, out)
				return err
			}
			src, ok := scenarios.BuiltinSource(args[0])
			if !ok {
				return usagef(c, scenarios.NoBuiltin(args[0]))
			}
			_, err := c.OutOrStdout().Write(src)
			return err
		},
	}
	c.Flags().BoolVar(&resolved, "resolved", false, "print the scenario with every default filled in (NAME may be a file)")
	return c
}

func newScenariosValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check scenario files and report every error",
		Long: `Parses and validates each scenario file (or built-in name; - reads standard
input) and reports every problem with its file, line and field, and how to
fix it. Exits 2 when any scenario is invalid, so it can guard a CI job.`,
		Example: `  herd scenarios validate my-drill.yaml
  herd scenarios validate drills/*.yaml
  generate-drill | herd scenarios validate -`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef(c, errors.New("want at least one scenario file"))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			invalid, problems := 0, 0
			for _, arg := range args {
				s, err := scenarios.LoadArg(arg, c.InOrStdin())
				if err != nil {
					invalid++
					problems += scenarios.PrintErrors(c.ErrOrStderr(), err)
					continue
				}
				fmt.Fprintf(c.OutOrStdout(), "%s: ok (%s: %d cameras, %d phases, %s)\n",
					s.Source, s.Name, s.Fleet.Cameras, len(s.Phases), scenarios.Duration{Duration: s.Total()})
			}
			if invalid > 0 {
				return exitcode.With(exitcode.Usage, fmt.Errorf("%d of %d scenarios invalid, %s", invalid, len(args), scenarios.Count(problems)))
			}
			return nil
		},
	}
}

// invalidScenario prints every problem of scenario name and is the usage
// error that counts them.
func invalidScenario(c *cobra.Command, name string, err error) error {
	n := scenarios.PrintErrors(c.ErrOrStderr(), err)
	return exitcode.With(exitcode.Usage, fmt.Errorf("%s is invalid, %s", name, scenarios.Count(n)))
}

func newScenariosMetricsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "metrics",
		Short: "List the metrics thresholds can test",
		Long: `Lists the metrics a scenario's thresholds can test, with their units.
A threshold is METRIC OP VALUE, OP one of < <= > >= == !=, and VALUE in the
metric's unit: a duration for ms (60s, 250ms), a percentage or fraction for
a ratio (5%, 0.05), a plain number for a count.`,
		Example: `  herd scenarios metrics
  herd scenarios metrics | grep recovery`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef(c, fmt.Errorf("metrics takes no arguments, got %q", args[0]))
			}
			return nil
		},
		RunE: func(c *cobra.Command, _ []string) error {
			return scenarios.WriteMetrics(c.OutOrStdout())
		},
	}
}
