package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"mpcrelay/conformance"
)

func init() { reportSubcommands = append(reportSubcommands, newReportDiffCmd) }

// regressionHelp defines a regression for --help of `report diff` and `conform --baseline`.
const regressionHelp = "A regression is a case present in both runs (same id; same target name when a run\n" +
	"checked several relays) whose outcome is now fail, error or flaky and was none of these in\n" +
	"the baseline (pass, non-strict, info or skipped), unless an expect file lists the new\n" +
	"outcome for that case. Other changes are reported, not counted: fixed (fail/error/flaky →\n" +
	"another outcome), changed (e.g. pass → non-strict, fail → error), new cases (in the new\n" +
	"run only, whatever their outcome) and removed cases (in the baseline only)."

func newReportDiffCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "diff OLD NEW",
		Short: "Compare two conformance runs (results.json) and exit 1 on regressions",
		Long: "Compares two conformance results.json files (or report directories holding one) and\n" +
			"prints what changed from OLD to NEW: regressions, fixed cases, changed outcomes, new\n" +
			"and removed cases.\n\n" + regressionHelp + "\n\n" +
			"Exit code 0: no regression; 1: some case regressed; 2: a file could not be read.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			old, err := conformance.LoadReport(args[0])
			if err != nil {
				return &exitError{2, fmt.Errorf("baseline: %w", err)}
			}
			cur, err := conformance.LoadReport(args[1])
			if err != nil {
				return &exitError{2, fmt.Errorf("new run: %w", err)}
			}
			d := conformance.Compare(old, cur)
			d.Baseline = args[0]
			if asJSON {
				if err := d.WriteJSON(cmd.OutOrStdout()); err != nil {
					return &exitError{2, err}
				}
			} else {
				d.Write(cmd.OutOrStdout())
			}
			if d.ExitCode() != 0 {
				return &exitError{1, errors.New("conformance: some case regressed since the baseline")}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the diff as JSON (the diff.json of conform --baseline)")
	return cmd
}
