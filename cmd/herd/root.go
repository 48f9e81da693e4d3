package main

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/herd-drill/herd/internal/exitcode"
)

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "herd",
		Short: "Thundering-herd drills for device clouds",
		Long: `herd drills device backends (cameras, doorbells, sensors) with a fleet of
simulated devices, each with a real WebSocket, that all come back at once
after an outage. An oracle checks that every person is shown only what their
own devices produced, and that nothing acknowledged is lost.`,
		Example: `  herd run                          # default drill against the built-in target
  herd target --listen 127.0.0.1:8080
  herd version`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	// Flag and argument errors are usage errors: exit 2.
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return exitcode.With(exitcode.Usage, usageError(c, err))
	})
	root.AddCommand(newVersionCmd())
	for _, add := range subcommands {
		root.AddCommand(add())
	}
	usageArgs(root)
	completions(root)
	return root
}

// usageArgs makes every command's argument errors usage errors (exit 2),
// as flag errors are.
func usageArgs(c *cobra.Command) {
	if check := c.Args; check != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			err := check(cmd, args)
			if err == nil || exitcode.Of(err) == exitcode.Usage {
				return err
			}
			return usagef(cmd, err)
		}
	}
	for _, sub := range c.Commands() {
		usageArgs(sub)
	}
}

// subcommands is filled by the init functions of the command files, one file
// per command, so that adding a command touches only its own file.
var subcommands []func() *cobra.Command

func usageError(c *cobra.Command, err error) error {
	return &usageErr{err: err, cmd: c.CommandPath()}
}

type usageErr struct {
	err error
	cmd string
}

func (u *usageErr) Error() string { return u.err.Error() + " (see '" + u.cmd + " --help')" }
func (u *usageErr) Unwrap() error { return u.err }

// usagef is a usage error (exit 2) of command c.
func usagef(c *cobra.Command, err error) error {
	return exitcode.With(exitcode.Usage, usageError(c, err))
}
