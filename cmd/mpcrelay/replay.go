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
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"mpcrelay/scenarios/replay"
	"mpcrelay/scenarios/report"
	"mpcrelay/scenarios/run"
	"mpcrelay/scenarios/trace"
)

func init() { subcommands = append(subcommands, newReplayCmd) }

func newReplayCmd() *cobra.Command {
	var (
		a                         replayArgs
		tracePath, selectSessions string
	)
	cmd := &cobra.Command{
		Use:   "replay [--trace FILE] [--url URL] --groups N [--rate R] [--duration D] [--baseline]",
		Short: "Replay recorded sessions as many concurrent groups, without the cryptography",
		Long: "Replays the sessions of a trace (the checked-in one when --trace is not given) as N concurrent\n" +
			"groups against the relay at --url, or the embedded reference relay. Each replayed party sends\n" +
			"what the trace says once its inputs have arrived; every frame is checked to reach exactly the\n" +
			"parties it should, once, intact. --baseline replays the same load through a minimal forwarder\n" +
			"in the same run and reports the relay's figures as ratios to it. The run is bounded: each group\n" +
			"replays its session once, or repeats it for --duration; all load goes to the given URL\n" +
			"(loopback for the embedded relay). Exit code 1: frames were lost, duplicated, misdelivered or\n" +
			"corrupted, or sessions failed.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.opts.Groups < 1 {
				return errors.New("--groups must be at least 1")
			}
			if a.opts.Duration < 0 || a.opts.Rate < 0 {
				return errors.New("--duration and --rate must not be negative")
			}
			tr, name, err := loadTrace(tracePath, "")
			if err != nil {
				return err
			}
			if selectSessions != "" {
				var kept []*trace.Session
				for _, s := range tr.Sessions {
					if strings.Contains(s.ID, selectSessions) {
						kept = append(kept, s)
					}
				}
				if len(kept) == 0 {
					return fmt.Errorf("--select %q matches no session of the trace", selectSessions)
				}
				tr = &trace.Trace{Sessions: kept}
				name += " (sessions matching " + strconv.Quote(selectSessions) + ")"
			}
			a.opts.Trace, a.opts.TraceName = tr, name
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			return runReplay(ctx, cmd.OutOrStdout(), a)
		},
	}
	f := cmd.Flags()
	f.StringVar(&tracePath, "trace", "", "trace file (JSON lines, from bench --record); empty: the checked-in trace")
	f.StringVar(&selectSessions, "select", "", "replay only the trace sessions whose id contains this (e.g. eddsa, ecdsa-sign)")
	f.StringVar(&a.url, "url", "", "relay URL (ws://host:port/mpc); empty starts the embedded reference relay")
	f.IntVar(&a.opts.Groups, "groups", 10, "groups replaying at once (each has one connection per party)")
	f.Float64Var(&a.opts.Rate, "rate", 0, "session starts per second over all groups (0: no cap)")
	f.DurationVar(&a.opts.Duration, "duration", 0, "repeat sessions for this long (0: each group replays its session once)")
	f.DurationVar(&a.opts.SessionTimeout, "session-timeout", 30*time.Second, "bound of one replayed session")
	f.BoolVar(&a.opts.Baseline, "baseline", false, "also replay through the minimal forwarder and report ratios to it")
	f.BoolVar(&a.opts.Bodies, "bodies", false, "send the recorded bodies when the trace has them (padding of the recorded size otherwise)")
	f.IntVar(&a.opts.RelayPID, "relay-pid", 0, "with --url: the relay's process id, to sample its memory")
	f.StringVar(&a.reportDir, "report-dir", "replay-report", "directory for results.json and report.html")
	f.BoolVar(&a.quiet, "quiet", false, "no progress bar")
	return cmd
}

type replayArgs struct {
	url       string
	reportDir string
	quiet     bool
	opts      run.ReplayOptions
}

func runReplay(ctx context.Context, out io.Writer, a replayArgs) error {
	o := a.opts
	o.URL = a.url
	o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	maxParties := 0
	for _, s := range o.Trace.Sessions {
		maxParties = max(maxParties, s.Parties)
	}
	// One descriptor per client connection, one more per server side when the relay is embedded.
	need := uint64(o.Groups*maxParties*2 + 256)
	if limit, err := replay.RaiseFileLimit(need); err != nil || limit < need {
		return fmt.Errorf("replay of %d groups needs about %d open files; the limit is %d (%v): raise it with ulimit -n", o.Groups, need, limit, err)
	}
	// The run stops by itself: the replay plus, per phase, the slowest session's bound.
	sessionBound := o.SessionTimeout
	if sessionBound <= 0 {
		sessionBound = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, 2*(o.Duration+2*sessionBound)+time.Minute)
	defer cancel()
	if !a.quiet {
		total := int64(o.Groups)
		if o.Duration > 0 {
			total = -1
		}
		var bar *progressbar.ProgressBar
		current := ""
		o.Progress = func(target string, done int) {
			if target != current {
				if bar != nil {
					_ = bar.Finish()
					fmt.Fprintln(os.Stderr)
				}
				current = target
				bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(os.Stderr),
					progressbar.OptionSetDescription("replay via "+target), progressbar.OptionShowCount(),
					progressbar.OptionSetElapsedTime(true), progressbar.OptionThrottle(200*time.Millisecond))
			}
			_ = bar.Set(done)
		}
		defer func() {
			if bar != nil {
				_ = bar.Finish()
				fmt.Fprintln(os.Stderr)
			}
		}()
		o.Progress = serialised(o.Progress)
	}
	res, err := run.Replay(ctx, o)
	if err != nil {
		return err
	}
	if err := report.WriteDir(a.reportDir, res, res.Page()); err != nil {
		return err
	}
	printReplay(out, res, filepath.Join(a.reportDir, "report.html"))
	if !res.Passed {
		return &exitError{code: 1, err: errors.New("replay: " + res.Verdict)}
	}
	return nil
}

// serialised makes a progress callback safe to call from many groups at once.
func serialised(f func(string, int)) func(string, int) {
	ch := make(chan struct{}, 1)
	ch <- struct{}{}
	return func(t string, n int) {
		<-ch
		defer func() { ch <- struct{}{} }()
		f(t, n)
	}
}

func printReplay(out io.Writer, res *run.ReplayResults, reportPath string) {
	show := func(name string, r *replay.Result) {
		fmt.Fprintf(out, "%-9s %d groups, %d connections, %d sessions (%d failed): %.0f messages/s, latency p50 %.2f ms p99 %.2f ms max %.2f ms, lost %d dup %d misdelivered %d corrupt %d, relay errors %d, peak memory %.1f MiB\n",
			name, r.Groups, r.Connections, r.SessionsCompleted, r.SessionsFailed, r.MessagesPerSec, r.Latency.P50, r.Latency.P99, r.Latency.Max,
			r.Lost, r.Duplicated, r.Misdelivered, r.Corrupt, r.RelayErrors, float64(r.PeakMemory)/(1<<20))
	}
	show("relay", res.Relay)
	if res.Baseline != nil {
		show("forwarder", res.Baseline)
		fmt.Fprintf(out, "relay/forwarder: messages/s %.2f, p50 latency %.2f, p99 latency %.2f", res.Ratios.MessagesPerSec, res.Ratios.LatencyP50, res.Ratios.LatencyP99)
		if res.Ratios.PeakMemory > 0 {
			fmt.Fprintf(out, ", peak memory %.2f", res.Ratios.PeakMemory)
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintf(out, "memory scope: %s\n%s\nreport: %s\n", res.MemoryScope, res.Verdict, reportPath)
}
