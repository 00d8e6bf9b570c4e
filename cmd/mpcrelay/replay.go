package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"mpcrelay/scenarios/replay"
	"mpcrelay/scenarios/report"
	"mpcrelay/scenarios/run"
	"mpcrelay/scenarios/trace"
	"mpcrelay/scenarios/usage"
)

func init() { subcommands = append(subcommands, newReplayCmd) }

func newReplayCmd() *cobra.Command {
	var (
		a                                                       replayArgs
		tracePath, selectSessions, segment, startAt, cpuProfile string
	)
	cmd := &cobra.Command{
		Use:   "replay [--trace FILE] [--url URL]... --groups N [--rate R] [--duration D] [--baseline] [--sweep]",
		Short: "Replay recorded sessions as many concurrent groups, without the cryptography",
		Long: "Replays the sessions of a trace (the checked-in one when --trace is not given) as N concurrent\n" +
			"groups against the relay at --url, or the embedded reference relay; with several --url, party i\n" +
			"of every group connects to URL i mod k (the nodes of a clustered relay). Every frame is checked\n" +
			"to reach exactly the parties it should, once, intact.\n\n" +
			"Closed loop (no --rate): each group replays its session back to back, a party sending once its\n" +
			"inputs have arrived. Open loop (--rate R): session k is due at k/R seconds on group k mod N and\n" +
			"its messages at their recorded offsets × --time-scale, whether or not earlier frames were\n" +
			"answered; latency counts from the due time (coordinated omission corrected, as wrk2), and the\n" +
			"report says when the generator itself fell behind. --sweep searches the capacity: it ramps the\n" +
			"rate step by step until p99 exceeds --slo or a delivery is lost or late.\n\n" +
			"--baseline replays the same load through a minimal forwarder in the same run. --segment i/n runs\n" +
			"slice i of n of the load (n processes, on one machine or several, make the whole run; merge their\n" +
			"results with mpcrelay report merge). --relay-pid or --metrics-url add the relay's CPU and memory\n" +
			"to the report, next to the generator's. The run is bounded; every connection is closed at the end.\n" +
			"Exit code 1: frames were lost, duplicated, misdelivered or corrupted, or sessions failed; 2: bad input.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.check(segment, startAt); err != nil {
				return err
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
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return fmt.Errorf("--cpuprofile: %w", err)
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return fmt.Errorf("--cpuprofile: %w", err)
				}
				defer pprof.StopCPUProfile()
			}
			if a.sweep.on {
				return runSweep(ctx, cmd.OutOrStdout(), a)
			}
			return runReplay(ctx, cmd.OutOrStdout(), a)
		},
	}
	f := cmd.Flags()
	f.StringVar(&tracePath, "trace", "", "trace file (JSON lines, from bench --record); empty: the checked-in trace")
	f.StringVar(&selectSessions, "select", "", "replay only the trace sessions whose id contains this (e.g. eddsa, ecdsa-sign)")
	f.StringArrayVar(&a.urls, "url", nil, "relay URL (ws://host:port/mpc); repeat it for the nodes of a cluster (party i of a group on URL i mod k); none starts the embedded reference relay")
	f.IntVar(&a.opts.Groups, "groups", 10, "groups replaying at once (each has one connection per party)")
	f.Float64Var(&a.opts.Rate, "rate", 0, "open loop: session starts per second (sessions/s) over all groups, sent on schedule whether answered or not; 0: closed loop")
	f.Float64Var(&a.opts.TimeScale, "time-scale", 1, "open loop: a session's messages are due at their recorded offsets times this (0.1: ten times faster than the recorded crypto)")
	f.DurationVar(&a.opts.Duration, "duration", 0, "repeat sessions for this long (open loop: sessions are due until then; 0: each group replays its session once)")
	f.DurationVar(&a.opts.SessionTimeout, "session-timeout", 30*time.Second, "bound of one replayed session (open loop: plus its scaled span); a delivery after it is late")
	f.BoolVar(&a.opts.Baseline, "baseline", false, "also replay through the minimal forwarder and report ratios to it")
	f.StringVar(&a.opts.BaselineURL, "baseline-url", "", "the forwarder to compare with, in its own process (mpcrelay forwarder); implies --baseline")
	f.IntVar(&a.opts.BaselinePID, "baseline-pid", 0, "with --baseline-url: the forwarder's process id, to read its CPU and memory from /proc")
	f.BoolVar(&a.opts.Bodies, "bodies", false, "send the recorded bodies when the trace has them (padding of the recorded size otherwise)")
	f.IntSliceVar(&a.opts.RelayPIDs, "relay-pid", nil, "with --url: the relay's process id, to read its CPU and memory from /proc (repeat it for each node of a cluster: they add up)")
	f.StringArrayVar(&a.opts.MetricsURLs, "metrics-url", nil, "with --url: the relay's Prometheus /metrics, to read its CPU and memory (process_cpu_seconds_total, process_resident_memory_bytes; repeat it for each node)")
	f.StringVar(&segment, "segment", "", "run slice i of n of the load, e.g. 2/3 (groups [N·(i-1)/n, N·i/n) with all their sessions)")
	f.StringVar(&startAt, "start-at", "", "start the schedule at this time (RFC 3339 or Unix seconds), so that segments started apart share it")
	f.StringVar(&a.reportDir, "report-dir", "replay-report", "directory for results.json and report.html")
	f.BoolVar(&a.quiet, "quiet", false, "no progress bar")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write the generator's CPU profile (go tool pprof) to this file")
	addSweepFlags(f, &a.sweep)
	return cmd
}

type replayArgs struct {
	urls      []string
	reportDir string
	quiet     bool
	opts      run.ReplayOptions
	sweep     sweepArgs
}

// check validates the flags, each with a one-line error (exit 2).
func (a *replayArgs) check(segment, startAt string) error {
	o := &a.opts
	if o.Groups < 1 {
		return errors.New("--groups must be at least 1")
	}
	if err := checkRate("--rate", o.Rate, true); err != nil {
		return err
	}
	if err := checkSessionRate("--rate", o.Rate); err != nil {
		return err
	}
	if err := checkRate("--time-scale", o.TimeScale, true); err != nil {
		return err
	}
	if o.Duration < 0 {
		return fmt.Errorf("--duration must not be negative, got %s", o.Duration)
	}
	if o.SessionTimeout <= 0 {
		return fmt.Errorf("--session-timeout must be positive, got %s", o.SessionTimeout)
	}
	for _, u := range a.urls {
		if !strings.HasPrefix(u, "ws://") && !strings.HasPrefix(u, "wss://") {
			return fmt.Errorf("--url %q: want ws://host:port/path or wss://…", u)
		}
	}
	if (len(o.RelayPIDs) > 0 || len(o.MetricsURLs) > 0) && len(a.urls) == 0 {
		return errors.New("--relay-pid and --metrics-url describe a relay given with --url")
	}
	if o.BaselineURL != "" {
		if !strings.HasPrefix(o.BaselineURL, "ws://") && !strings.HasPrefix(o.BaselineURL, "wss://") {
			return fmt.Errorf("--baseline-url %q: want ws://host:port/", o.BaselineURL)
		}
		o.Baseline = true
	}
	if o.BaselinePID != 0 && o.BaselineURL == "" {
		return errors.New("--baseline-pid describes a forwarder given with --baseline-url")
	}
	for _, u := range o.MetricsURLs {
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return fmt.Errorf("--metrics-url %q: want http://host:port/metrics", u)
		}
	}
	if slices.ContainsFunc(o.RelayPIDs, func(p int) bool { return p <= 0 }) || o.BaselinePID < 0 {
		return errors.New("--relay-pid and --baseline-pid must be process ids")
	}
	if segment != "" {
		seg, err := replay.ParseSegment(segment)
		if err != nil {
			return err
		}
		if seg.N > o.Groups {
			return fmt.Errorf("--segment %s: %d groups cannot be split into %d slices", segment, o.Groups, seg.N)
		}
		o.Segment = seg
	}
	if startAt != "" {
		t, err := parseStartAt(startAt)
		if err != nil {
			return err
		}
		if time.Until(t) > time.Hour {
			return fmt.Errorf("--start-at %s is more than an hour away", startAt)
		}
		o.StartAt = t
	}
	if a.sweep.on {
		if err := a.sweep.check(o); err != nil {
			return err
		}
	}
	if len(a.urls) > 0 {
		o.URL, o.URLs = a.urls[0], a.urls
	}
	return nil
}

// checkRate accepts finite numbers ≥ 0 (> 0 unless zeroOK).
func checkRate(flag string, v float64, zeroOK bool) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || (!zeroOK && v == 0) {
		want := "a finite number ≥ 0"
		if !zeroOK {
			want = "a finite number > 0"
		}
		return fmt.Errorf("%s must be %s, got %v", flag, want, v)
	}
	return nil
}

// checkSessionRate accepts 0 (no rate) or an open-loop rate whose schedule the replay can hold
// (replay.MinRate: below it the gap between sessions overflows the schedule's int64 ns).
func checkSessionRate(flag string, v float64) error {
	if err := replay.CheckRate(v); err != nil {
		return fmt.Errorf("%s %w", flag, err)
	}
	return nil
}

func parseStartAt(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f > 0 && !math.IsInf(f, 0) {
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)), nil
	}
	return time.Time{}, fmt.Errorf("--start-at %q: want RFC 3339 (2026-11-26T09:00:00Z) or Unix seconds", s)
}

func runReplay(ctx context.Context, out io.Writer, a replayArgs) error {
	o := a.opts
	o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := raiseFiles(o); err != nil {
		return err
	}
	// The run stops by itself within its bound (twice with the baseline); this deadline only
	// guards against a bug.
	ctx, cancel := context.WithTimeout(ctx, 2*run.ReplayBound(o)+time.Minute)
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
	if res == nil {
		return err
	}
	// An interrupted run still writes what it measured, then exits 2.
	if werr := report.WriteDir(a.reportDir, res, res.Page()); werr != nil {
		return werr
	}
	printReplay(out, res, filepath.Join(a.reportDir, "report.html"))
	if err != nil {
		return err
	}
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
	cpu := func(target string, u *usage.Report) {
		if u == nil {
			return
		}
		fmt.Fprintf(out, "cpu       generator %.2f s (%.1f µs/delivery), %s %s", u.GeneratorCPUSec, u.GeneratorCPUPerDeliveryUS, target, u.RelaySource)
		if u.RelayCPUSec > 0 {
			fmt.Fprintf(out, " %.2f s (%.1f µs/delivery; generator/%s %.2f), peak RSS %.1f MiB", u.RelayCPUSec, u.RelayCPUPerDeliveryUS, target, u.GeneratorToRelay, float64(u.RelayPeakRSS)/(1<<20))
		}
		fmt.Fprintf(out, "\n          %s\n", u.Verdict)
	}
	show("relay", res.Relay)
	cpu("relay", res.Relay.Usage)
	if res.Baseline != nil {
		show("forwarder", res.Baseline)
		cpu("forwarder", res.Baseline.Usage)
		fmt.Fprintf(out, "relay/forwarder: messages/s %.2f, p50 latency %.2f, p99 latency %.2f", res.Ratios.MessagesPerSec, res.Ratios.LatencyP50, res.Ratios.LatencyP99)
		if res.Ratios.PeakMemory > 0 {
			fmt.Fprintf(out, ", peak memory %.2f", res.Ratios.PeakMemory)
		}
		fmt.Fprintln(out)
	}
	if s := res.Relay.Schedule; s != nil {
		fmt.Fprintf(out, "schedule  %.4g sessions/s offered (%.0f messages/s): %s\n", res.Relay.OfferedSessionsPerSec, res.Relay.OfferedPerSec, s.Verdict)
	}
	fmt.Fprintf(out, "memory scope: %s\n%s\nreport: %s\n", res.MemoryScope, res.Verdict, reportPath)
}

// raiseFiles lifts the open-files limit for the run: one descriptor per client connection,
// one more per server side when the relay (or the forwarder) is in this process.
func raiseFiles(o run.ReplayOptions) error {
	maxParties := 0
	for _, s := range o.Trace.Sessions {
		maxParties = max(maxParties, s.Parties)
	}
	need := uint64(o.Groups*maxParties*2 + 256)
	if limit, err := replay.RaiseFileLimit(need); err != nil || limit < need {
		return fmt.Errorf("replay of %d groups needs about %d open files; the limit is %d (%v): raise it with ulimit -n", o.Groups, need, limit, err)
	}
	return nil
}
