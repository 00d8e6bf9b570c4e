package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"mpcrelay/forwarder"
)

func init() { subcommands = append(subcommands, newForwarderCmd) }

// The forwarder in its own process, so that a benchmark can compare relay and baseline each
// running alone (replay --baseline-url, with --baseline-pid for its CPU).
func newForwarderCmd() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "forwarder [--addr HOST:PORT]",
		Short: "Run the minimal forwarder, the baseline of relay benchmarks, as its own process",
		Long: "Runs the blind forwarder of package forwarder: every frame a connection sends is written to\n" +
			"every other connection of its room (the query parameter room). It speaks no protocol; replay\n" +
			"--baseline-url uses it as the cheapest possible transport of the same messages. SIGINT or\n" +
			"SIGTERM stops it.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			url, shutdown, err := forwarder.Start(ctx, addr)
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "mpcrelay: forwarder listening on %s\n", url)
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return shutdown(sctx)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:3031", "listen address (host:port; port 0 picks a free one)")
	return cmd
}
