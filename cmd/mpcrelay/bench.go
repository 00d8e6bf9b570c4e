package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"mpcrelay/scenarios/report"
	"mpcrelay/scenarios/run"
	"mpcrelay/scenarios/spec"
	"mpcrelay/scenarios/trace"
	"mpcrelay/scenarios/traces"
)

func init() { subcommands = append(subcommands, newBenchCmd) }

func newBenchCmd() *cobra.Command {
	var (
		scenarioPath, reportDir, record string
		urls                            []string
		recordBodies, quiet             bool
		sweep                           sweepArgs
		groups                          int
		duration                        time.Duration
	)
	cmd := &cobra.Command{
		Use:   "bench --scenario FILE [--url URL]... [--report-dir DIR] [--record FILE] [--sweep]",
		Short: "Run a scenario: real tss-lib parties (or a trace replay) against a relay, with a report",
		Long: "Runs the scenario file with real tss-lib simulated parties against the relay at --url, or\n" +
			"against the embedded reference relay when no URL is given, and writes DIR/results.json and a\n" +
			"self-contained DIR/report.html. A scenario with mode: replay replays a trace instead (see\n" +
			"mpcrelay replay); --sweep searches its capacity (see mpcrelay replay --help). With several --url,\n" +
			"party i of every group connects to URL i mod k (the nodes of a clustered relay). --record writes\n" +
			"the signed traffic as a trace (JSON lines).\n" +
			"Exit code 1: the scenario's expected outcome was not met.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if scenarioPath == "" {
				return errors.New("--scenario FILE is required")
			}
			for _, u := range urls {
				if !strings.HasPrefix(u, "ws://") && !strings.HasPrefix(u, "wss://") {
					return fmt.Errorf("--url %q: want ws://host:port/path or wss://…", u)
				}
			}
			s, err := spec.Load(scenarioPath)
			if err != nil {
				return err
			}
			// Overrides, for sweeps over concurrency without editing the file.
			if groups > 0 {
				s.Groups = groups
			}
			if duration > 0 {
				s.Duration, s.Signings = spec.Duration(duration), 0
			}
			if err := s.Validate(); err != nil {
				return fmt.Errorf("%s with overrides: %w", scenarioPath, err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			if s.Mode == spec.ModeReplay {
				if record != "" {
					return errors.New("--record records a bench; a replay scenario sends no signed traffic of its own")
				}
				tr, name, err := loadTrace(s.Trace, filepath.Dir(scenarioPath))
				if err != nil {
					return err
				}
				a := replayArgs{urls: urls, reportDir: reportDir, quiet: quiet, sweep: sweep, opts: run.ReplayOptions{
					Trace: tr, TraceName: name, Groups: s.Groups, Rate: s.Rate, TimeScale: s.TimeScale, Duration: s.Duration.D(),
					SessionTimeout: 30 * time.Second, Baseline: s.Baseline, Faults: s.ProxyFaults(), Scenario: s}}
				if sweep.on { // the sweep sets each step's rate and duration
					a.opts.Rate, a.opts.Duration = 0, 0
				}
				if err := a.check("", ""); err != nil {
					return err
				}
				if sweep.on {
					return runSweep(ctx, cmd.OutOrStdout(), a)
				}
				return runReplay(ctx, cmd.OutOrStdout(), a)
			}
			if sweep.on {
				return errors.New("--sweep searches the capacity of a replay: use a scenario with mode: replay")
			}
			return runBench(ctx, cmd.OutOrStdout(), s, urls, reportDir, record, recordBodies, quiet)
		},
	}
	f := cmd.Flags()
	f.StringVar(&scenarioPath, "scenario", "", "scenario file (YAML or JSON), e.g. scenarios/examples/smoke.yaml")
	f.StringArrayVar(&urls, "url", nil, "relay URL (ws://host:port/mpc); repeat it for the nodes of a cluster (party i of a group on URL i mod k); none starts the embedded reference relay")
	f.StringVar(&reportDir, "report-dir", "bench-report", "directory for results.json and report.html")
	f.StringVar(&record, "record", "", "write the signed traffic as a trace to this file (JSON lines)")
	f.BoolVar(&recordBodies, "record-bodies", false, "with --record, write each message's body as well as its size")
	f.BoolVar(&quiet, "quiet", false, "no progress bar")
	f.IntVar(&groups, "groups", 0, "override the scenario's groups (concurrency sweeps)")
	f.DurationVar(&duration, "duration", 0, "override the scenario's duration (signing time per group, or replay time)")
	addSweepFlags(f, &sweep)
	return cmd
}

func runBench(ctx context.Context, out io.Writer, s *spec.Scenario, urls []string, reportDir, record string, recordBodies, quiet bool) error {
	opts := run.BenchOptions{Scenario: s, RecordBodies: recordBodies,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if len(urls) > 0 {
		opts.URL, opts.URLs = urls[0], urls
	}
	var traceFile *os.File
	if record != "" {
		f, err := os.Create(record)
		if err != nil {
			return fmt.Errorf("--record: %w", err)
		}
		traceFile = f
		defer f.Close()
		opts.Record = trace.NewWriter(f)
	}
	if !quiet {
		total := int64(s.Groups * (s.Keygens + s.Signings))
		desc := fmt.Sprintf("%s: keygens and signings", s.Name)
		if s.Duration > 0 {
			total = -1 // open-ended: signings run until the duration has passed
			desc = fmt.Sprintf("%s: signing for %s", s.Name, s.Duration)
		}
		bar := progressbar.NewOptions64(total, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionSetDescription(desc),
			progressbar.OptionShowCount(), progressbar.OptionSetElapsedTime(true), progressbar.OptionThrottle(200*time.Millisecond))
		defer func() { _ = bar.Finish(); fmt.Fprintln(os.Stderr) }()
		opts.Progress = func(run.Op) { _ = bar.Add(1) }
	}
	res, err := run.Bench(ctx, opts)
	if err != nil {
		return err
	}
	if opts.Record != nil {
		if err := opts.Record.Flush(); err != nil {
			return err
		}
		if err := traceFile.Close(); err != nil {
			return fmt.Errorf("--record: %w", err)
		}
	}
	if err := report.WriteDir(reportDir, res, res.Page()); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: %s\n", s.Name, res.Verdict)
	fmt.Fprintf(out, "signatures/s %.3f, keygens/s %.3f; report: %s\n", res.SignaturesPerSec, res.KeygensPerSec, filepath.Join(reportDir, "report.html"))
	if !res.Passed {
		return &exitError{code: 1, err: fmt.Errorf("scenario %s: expected outcome not met", s.Name)}
	}
	return nil
}

// loadTrace reads a trace file (relative to base when not absolute), or the checked-in trace
// when path is empty.
func loadTrace(path, base string) (*trace.Trace, string, error) {
	if path == "" {
		tr, err := traces.Default()
		return tr, traces.DefaultName, err
	}
	if !filepath.IsAbs(path) && base != "" {
		path = filepath.Join(base, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, "", fmt.Errorf("trace: %w", err)
	}
	defer f.Close()
	tr, err := trace.Read(f)
	if err != nil {
		return nil, "", fmt.Errorf("trace %s: %w", path, err)
	}
	return tr, path, nil
}
