package main

import (
	"errors"
	"path/filepath"

	"github.com/spf13/cobra"

	"mpcrelay/scenarios/report"
	"mpcrelay/scenarios/run"
)

func init() { reportSubcommands = append(reportSubcommands, newReportMergeCmd) }

func newReportMergeCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "merge DIR... [--out DIR]",
		Short: "Merge the results of the segments of one load (replay --segment i/n) into one",
		Long: "Reads DIR/results.json of each segment of one replay (mpcrelay replay --segment i/n, run as n\n" +
			"processes on one machine or several) and writes the results of the whole load to --out:\n" +
			"counts add up, latency histograms (HDR, kept encoded in results.json) merge exactly, rates are\n" +
			"recomputed. Every segment 1/n … n/n must be there, once, from the same trace, groups, rate and\n" +
			"time scale.\n" +
			"Exit code 1: the merged load lost, duplicated, misdelivered or corrupted frames; 2: bad input.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, dirs []string) error {
			parts := make([]*run.ReplayResults, len(dirs))
			for i, d := range dirs {
				r, err := run.ReadReplayResults(d)
				if err != nil {
					return err
				}
				parts[i] = r
			}
			res, err := run.MergeReplays(dirs, parts)
			if err != nil {
				return err
			}
			if err := report.WriteDir(out, res, res.Page()); err != nil {
				return err
			}
			printReplay(cmd.OutOrStdout(), res, filepath.Join(out, "report.html"))
			if !res.Passed {
				return &exitError{code: 1, err: errors.New("report merge: " + res.Verdict)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "merged-report", "directory for the merged results.json and report.html")
	return cmd
}
