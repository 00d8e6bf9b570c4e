// Command mpcrelay is the relay, its conformance suite and the tools around them.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// exitError carries an exit code chosen by a subcommand (conform uses 1 and 2, for CI).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "mpcrelay",
		Short:         "Relay, client tools and conformance suite for the mpc-websocket protocol",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newPreparamsCmd())
	for _, add := range subcommands {
		root.AddCommand(add())
	}
	return root
}

// subcommands registers the subcommands defined in the other files of this package.
var subcommands []func() *cobra.Command

func main() {
	err := newRoot().Execute()
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "mpcrelay:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		os.Exit(ee.code)
	}
	os.Exit(2)
}
