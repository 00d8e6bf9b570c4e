package main

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"mpcrelay/conformance"
	"mpcrelay/conformance/breakage"
	"mpcrelay/conformance/explore"
)

func init() { subcommands = append(subcommands, newConformCmd) }

func newConformCmd() *cobra.Command {
	var (
		urls        []string
		reportDir   string
		labelFilter string
		focus       []string
		strict      bool
		timeout     time.Duration
		quiet       time.Duration
		dryRun      bool
		expectFile  string
		parallel    int
		compat      bool
		verbose     bool
		repeat      int
		baseline    string
		browser     bool
		coverage    bool
		clustered   bool
		exploreOnly bool
		seeds       []int64
		steps       int
		duration    time.Duration
		keep        []string
		shrink      time.Duration
	)
	cmd := &cobra.Command{
		Use:   "conform [--url ws://...]... [--cluster]",
		Short: "Check a relay against the protocol with the conformance suite",
		Long: "Runs the conformance suite (PROTOCOL.md) against each --url, or against the embedded\n" +
			"reference relay when no --url is given. With --cluster the --url values are the nodes of\n" +
			"ONE relay: each case dials its connections on the nodes in turn, so cross-node behaviour\n" +
			"is checked too. Exit code 0: no case failed; 1: some case\n" +
			"failed, or was flaky under --repeat; 2: the harness could not run (bad flags, target\n" +
			"unreachable, a case errored).\n" +
			"Cases run in -p worker processes (this binary, re-executed), each running its share\n" +
			"of the Ginkgo specs.\n\n" +
			"--browser adds the cases labelled browser: headless Chromium (found as $MPCRELAY_CHROMIUM\n" +
			"or chromium in PATH) runs §7 keygen- and sign-shaped flows through its own WebSocket\n" +
			"with the kit's JavaScript client; against the embedded relay it also checks wss://\n" +
			"with a test certificate, --allowed-origins and --static (COOP/COEP). Without Chromium\n" +
			"they are reported skipped, with the reason.\n\n" +
			"--repeat N runs the selection N times; a case whose outcome differs between runs is\n" +
			"reported flaky (console, results.json, junit.xml, report.html) and exits 1.\n\n" +
			"--baseline FILE compares the run with an earlier results.json (as `mpcrelay report\n" +
			"diff` does), prints the changes, writes diff.json beside the reports, and then exits\n" +
			"1 only on regressions (0 otherwise, 2 if the harness failed).\n" + regressionHelp +
			"\nEvery run includes a bounded model-based exploration (cases explore/<seed>, label\n" +
			"explore: fixed seeds, a step budget). --explore runs only the exploration, longer, with\n" +
			"fresh seeds (printed) or the --seed values; a failing exploration prints the command\n" +
			"that replays its shrunk run (--explore --seed S --steps N --keep i,j.k,...).\n",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if conformance.RunWorkerIfRequested() {
				return nil
			}
			if coverage {
				return writeCoverage(cmd)
			}
			usage := func(format string, args ...any) error {
				return &exitError{2, fmt.Errorf(format, args...)}
			}
			if timeout <= 0 || quiet <= 0 {
				return usage("--timeout and --quiet-window must be positive")
			}
			if parallel < 1 {
				return usage("-p must be at least 1, got %d", parallel)
			}
			if repeat < 1 {
				return usage("--repeat must be at least 1, got %d", repeat)
			}
			exploreFlags := cmd.Flags().Changed("seed") || cmd.Flags().Changed("steps") || cmd.Flags().Changed("duration") ||
				cmd.Flags().Changed("keep") || cmd.Flags().Changed("shrink-budget")
			if exploreFlags && !exploreOnly {
				return usage("--seed, --steps, --duration, --keep and --shrink-budget go with --explore")
			}
			var cases []*conformance.Case
			var err error
			settings := conformance.DefaultExplore
			if exploreOnly {
				if labelFilter != "" || len(focus) > 0 {
					return usage("--explore runs only the exploration; --label-filter and --focus do not apply")
				}
				if settings, seeds, err = exploreSettings(cmd, seeds, steps, duration, keep, shrink, parallel); err != nil {
					return usage("%v", err)
				}
				cases = conformance.ExploreCases(seeds)
			} else if cases, err = conformance.Select(labelFilter, splitList(focus)); err != nil {
				return usage("%v", err)
			}
			selected := len(cases)
			if !browser {
				cases = conformance.Without(cases, "browser")
			}
			if len(cases) == 0 && selected > 0 {
				return usage("only browser cases match --label-filter %q --focus %q: add --browser to run them", labelFilter, strings.Join(focus, ","))
			}
			if len(cases) == 0 {
				return usage("no case matches --label-filter %q --focus %q", labelFilter, strings.Join(focus, ","))
			}
			if dryRun {
				for _, c := range cases {
					fmt.Fprintf(cmd.OutOrStdout(), "%-52s %-6s %-40s %s\n", c.ID, c.Level, strings.Join(c.AllLabels(), ","), c.Requirement)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%d cases selected\n", len(cases))
				return nil
			}
			var expect conformance.Expectations
			if expectFile != "" {
				if expect, err = conformance.LoadExpectations(expectFile); err != nil {
					return usage("%v", err)
				}
			}
			var base *conformance.Report
			if baseline != "" {
				if base, err = conformance.LoadReport(baseline); err != nil {
					return usage("--baseline: %v", err)
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			var targets []conformance.Target
			seen := map[string]bool{}
			for _, u := range urls {
				if !strings.HasPrefix(u, "ws://") && !strings.HasPrefix(u, "wss://") {
					return usage("--url %q is not a ws:// or wss:// URL", u)
				}
				if seen[u] {
					return usage("--url %s given twice", u)
				}
				seen[u] = true
				targets = append(targets, conformance.Target{Name: u, URL: u, Replay: "--url " + u})
			}
			switch {
			case clustered && len(targets) == 0:
				ec, err := conformance.StartEmbeddedCluster(ctx, 3, compat)
				if err != nil {
					return &exitError{2, err}
				}
				defer func() {
					sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					ec.Shutdown(sctx)
				}()
				fmt.Fprintf(cmd.ErrOrStderr(), "no --url: checking the embedded reference relay as a 3-node cluster on NATS %s: %s\n",
					ec.NATS.ClientURL(), strings.Join(ec.URLs(), " "))
				targets = []conformance.Target{conformance.ClusterTarget(ec.URLs())}
				targets[0].Replay = "--cluster" // the embedded cluster's ports are new every run
				if compat {
					targets[0].Replay += " --compat"
				}
			case clustered && len(targets) < 2:
				return usage("--cluster needs at least two --url (the nodes of one relay), got %d", len(targets))
			case clustered:
				targets = []conformance.Target{conformance.ClusterTarget(urls)}
			}
			if len(targets) == 0 {
				inst, err := conformance.StartEmbedded(ctx, compat)
				if err != nil {
					return &exitError{2, err}
				}
				defer func() {
					sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					_ = inst.Shutdown(sctx)
				}()
				name := "embedded reference relay"
				if compat {
					name += " (compat)"
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "no --url: checking the %s at %s\n", name, inst.URL())
				replay := ""
				if compat {
					replay = "--compat"
				}
				targets = append(targets, conformance.Target{Name: inst.URL(), URL: inst.URL(), Embedded: true, Replay: replay})
			}
			opts := conformance.Options{
				Targets: targets, Cases: cases, Parallel: parallel, Strict: strict, Expect: expect,
				Config: conformance.Config{Timeout: timeout, QuietWindow: quiet}, Repeat: repeat, Explore: settings,
			}
			if repeat > 1 {
				opts.Progress = func(run, of int, r *conformance.Report) {
					fmt.Fprintf(cmd.ErrOrStderr(), "run %d/%d in %.1fs: %s\n", run, of, float64(r.DurationMS)/1000, r.Counts())
				}
			}
			if verbose {
				opts.WorkerOutput = cmd.ErrOrStderr()
			}
			rep, err := conformance.Run(ctx, opts)
			if err != nil {
				return &exitError{2, err}
			}
			rep.WriteSummary(cmd.OutOrStdout())
			if reportDir != "" {
				if err := rep.WriteFiles(reportDir); err != nil {
					return &exitError{2, fmt.Errorf("write reports: %w", err)}
				}
				fmt.Fprintf(cmd.OutOrStdout(), "reports: %s/{results.json,junit.xml,report.html}\n", reportDir)
			}
			if base != nil {
				d := conformance.Compare(base, rep)
				d.Baseline = baseline
				fmt.Fprintln(cmd.OutOrStdout())
				d.Write(cmd.OutOrStdout())
				if reportDir != "" {
					if err := d.WriteFile(reportDir); err != nil {
						return &exitError{2, fmt.Errorf("write diff: %w", err)}
					}
				}
				switch {
				case d.ExitCode() != 0:
					return &exitError{1, errors.New("conformance: some case regressed since the baseline")}
				case len(rep.HarnessErrors) > 0:
					return &exitError{2, errors.New("conformance: the harness failed (see HARNESS ERROR above)")}
				}
				return nil
			}
			switch code := rep.ExitCode(); code {
			case 1:
				return &exitError{1, errors.New("conformance: some case failed")}
			case 2:
				return &exitError{2, errors.New("conformance: the harness could not run some case (outcome error)")}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&urls, "url", nil, "relay to check (repeat for a case × relay matrix); default: the embedded reference relay")
	f.StringVar(&reportDir, "report-dir", "", "write results.json, junit.xml and report.html here")
	f.StringVar(&labelFilter, "label-filter", "", `Ginkgo label filter over case labels and levels, e.g. "!crypto", "routing && must"`)
	f.StringSliceVar(&focus, "focus", nil, "run only these sections or case-id prefixes (e.g. 4.5, 4, 4.7/body-intact-1mib)")
	f.BoolVar(&strict, "strict", false, "count non-strict outcomes (SHOULD not met, COMPAT behaviour) as failures")
	f.DurationVar(&timeout, "timeout", conformance.DefaultTimeout, "wait this long for a response or an expected event")
	f.DurationVar(&quiet, "quiet-window", conformance.DefaultQuietWindow, `wait this long before concluding "no event arrives"`)
	f.BoolVar(&dryRun, "dry-run", false, "list the selected cases and exit")
	f.StringVar(&expectFile, "expect", "", "YAML file of known deviations: case id → expected outcome")
	f.IntVarP(&parallel, "parallel", "p", conformance.DefaultParallel, "worker processes running cases in parallel")
	f.BoolVar(&compat, "compat", false, "run the embedded reference relay in compat mode (behaves like the original)")
	f.BoolVar(&verbose, "verbose", false, "stream the workers' Ginkgo output to stderr")
	f.BoolVar(&browser, "browser", false, "also run the browser cases (label browser): headless Chromium as a client; skipped, with the reason, when no Chromium is found")
	f.StringVar(&baseline, "baseline", "", "results.json of an earlier run: print what changed and exit 1 only on regressions (see below)")
	f.IntVar(&repeat, "repeat", 1, "run the selection N times against the same targets; a case whose outcome differs between runs is reported flaky (exit 1)")
	f.BoolVar(&coverage, "coverage", false, "print the rule table (each rule of PROTOCOL.md, its level, the cases that check it and the self-test breakages that prove they catch it) and exit; exit 1 if a MUST rule lacks a case or a breakage")
	f.BoolVar(&clustered, "cluster", false, "the --url values are nodes of one relay: spread each case's connections over them in turn (without --url: an embedded 3-node cluster)")
	f.BoolVar(&exploreOnly, "explore", false, "run only the model-based exploration, longer, with fresh seeds (or --seed)")
	f.Int64SliceVar(&seeds, "seed", nil, "with --explore: explore these seeds (comma-separated or repeated); default: -p fresh seeds")
	f.IntVar(&steps, "steps", 0, "with --explore: steps per seed (default: as many as --duration allows)")
	f.DurationVar(&duration, "duration", 30*time.Second, "with --explore: how long each seed explores (when --steps is not given)")
	f.StringSliceVar(&keep, "keep", nil, `with --explore, one --seed and --steps: replay only these steps ("12") or frames ("12.1") — a shrunk run`)
	f.DurationVar(&shrink, "shrink-budget", time.Minute, "with --explore: how long to shrink a failing run")
	return cmd
}

// writeCoverage prints the rule table; a MUST rule without a case or a breakage is a gap (exit 1).
func writeCoverage(cmd *cobra.Command) error {
	byRule := breakage.ByRule()
	conformance.WriteCoverage(cmd.OutOrStdout(), byRule)
	s := conformance.Coverage(byRule)
	if s.MustWithCase < s.Must || s.MustWithBreakage < s.Must {
		return &exitError{1, fmt.Errorf("coverage: %d of %d MUST rules have a case, %d a breakage", s.MustWithCase, s.Must, s.MustWithBreakage)}
	}
	return nil
}

// exploreSettings checks the --explore flags and picks fresh seeds when none are given.
func exploreSettings(cmd *cobra.Command, seeds []int64, steps int, duration time.Duration, keep []string, shrink time.Duration, parallel int) (conformance.ExploreSettings, []int64, error) {
	s := conformance.ExploreSettings{Steps: steps, Keep: keep, ShrinkBudget: shrink}
	if steps < 0 || duration <= 0 || shrink < 0 {
		return s, nil, fmt.Errorf("--steps must not be negative, --duration must be positive, --shrink-budget must not be negative")
	}
	if steps == 0 || cmd.Flags().Changed("duration") {
		s.Duration = duration
	}
	if len(keep) > 0 {
		if len(seeds) != 1 || steps == 0 {
			return s, nil, fmt.Errorf("--keep replays one run: give one --seed and its --steps")
		}
		if _, err := explore.ParseKeep(explore.Generate(seeds[0], steps), keep); err != nil {
			return s, nil, err
		}
		s.Duration, s.ShrinkBudget = 0, 0
	}
	if len(seeds) == 0 {
		for range parallel {
			seeds = append(seeds, mrand.Int64N(1<<40))
		}
		var list []string
		for _, sd := range seeds {
			list = append(list, fmt.Sprint(sd))
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "explore: seeds %s (replay one with --explore --seed S)\n", strings.Join(list, ", "))
	}
	return s, seeds, nil
}

// splitList accepts "4.5,4.7" as well as repeated flags.
func splitList(in []string) []string {
	var out []string
	for _, s := range in {
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}
