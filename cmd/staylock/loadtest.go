package main

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/staylock/staylock/loadtest"
)

// newLoadtestCmd is `staylock loadtest`. Everything lives in package
// loadtest; here only its refusals (bad flags, a remote target without
// --allow-remote) become the usage exit status. Any other failure (audit
// problems, a breached threshold, an unreachable server) exits 1.
func newLoadtestCmd(a *app) *cobra.Command {
	cmd := loadtest.NewCommand(a.stdout)
	run := cmd.RunE
	cmd.RunE = func(c *cobra.Command, args []string) error {
		err := run(c, args)
		if errors.Is(err, loadtest.ErrConfig) || errors.Is(err, loadtest.ErrRemoteTarget) {
			return usageError{err}
		}
		return err
	}
	return cmd
}
