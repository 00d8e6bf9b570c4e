package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"mpcrelay/simparty/preparams"
)

func newPreparamsCmd() *cobra.Command {
	var count int
	var out string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "preparams --count N --out DIR",
		Short: "Generate Paillier pre-parameter sets for ECDSA keygen (test use only)",
		Long: "Generates N sets of Paillier pre-parameters (safe primes) for ECDSA keygen and writes\n" +
			"them as DIR/NN.json. Each set takes seconds to minutes. Sets written here are meant\n" +
			"for testing relays; keys made with shared or committed sets must never hold value.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if count < 1 {
				return fmt.Errorf("--count must be at least 1, got %d", count)
			}
			if out == "" {
				return fmt.Errorf("--out DIR is required")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			bar := progressbar.NewOptions(count,
				progressbar.OptionSetWriter(os.Stderr),
				progressbar.OptionSetDescription("safe primes"),
				progressbar.OptionShowCount(),
				progressbar.OptionSetElapsedTime(true),
				progressbar.OptionSetPredictTime(true))
			for i := 0; i < count; i++ {
				gctx, cancel := context.WithTimeout(ctx, timeout)
				p, err := preparams.Generate(gctx)
				cancel()
				if err != nil {
					return fmt.Errorf("set %d of %d: %w", i+1, count, err)
				}
				path, err := preparams.Write(out, p)
				if err != nil {
					return fmt.Errorf("set %d of %d: %w", i+1, count, err)
				}
				_ = bar.Add(1)
				fmt.Fprintf(os.Stderr, "\nwrote %s\n", path)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&count, "count", 1, "number of sets to generate")
	cmd.Flags().StringVar(&out, "out", "", "directory to write NN.json files into")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "give up on one set after this long")
	return cmd
}
