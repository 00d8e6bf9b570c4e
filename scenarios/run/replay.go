// Package run runs scenarios: the bench (real tss-lib parties through a relay, package
// simparty) and the replay (recorded traffic without cryptography, package replay), each
// against the embedded reference relay or a relay at a URL, and turns what they measured into
// results.json and report.html (package report).
package run

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"mpcrelay/faultproxy"
	"mpcrelay/forwarder"
	"mpcrelay/scenarios/replay"
	"mpcrelay/scenarios/report"
	"mpcrelay/scenarios/spec"
	"mpcrelay/scenarios/trace"
	"mpcrelay/scenarios/usage"
)

// EmbeddedTarget names the embedded reference relay in results.
const EmbeddedTarget = "embedded reference relay"

// ReplayOptions configure Replay.
type ReplayOptions struct {
	URL string // relay to replay against; "" starts the embedded reference relay
	// URLs, when more than one, are the nodes of a clustered relay: party i of every group
	// connects to URLs[i mod len(URLs)] (URL is then URLs[0]).
	URLs      []string
	Trace     *trace.Trace
	TraceName string
	Groups    int
	Rate      float64 // open loop: session starts per second (0: closed loop)
	TimeScale float64 // open loop: recorded offsets × this (0: 1)
	Duration  time.Duration
	Segment   replay.Segment
	StartAt   time.Time
	// SessionTimeout bounds one replayed session (default 30 s).
	SessionTimeout time.Duration
	Baseline       bool // also replay through the minimal forwarder, in the same run
	// BaselineURL, when set, is a forwarder in its own process (mpcrelay forwarder) to use as
	// the baseline instead of one in this process; BaselinePID is its process, for its CPU.
	BaselineURL string
	BaselinePID int
	Bodies      bool // send the recorded bodies when the trace has them
	// RelayPIDs, when set, are the relay's processes (one per node), whose CPU and memory are
	// read; otherwise this process's memory is sampled (embedded relay and replay clients).
	RelayPIDs []int
	// MetricsURLs, when set, are the relay's Prometheus /metrics, read for its CPU and memory.
	MetricsURLs []string
	Faults      []spec.Fault // proxy faults (latency, delay, reorder), relay run only
	Scenario    *spec.Scenario
	Progress    func(target string, sessionsDone int)
	Logger      *slog.Logger
}

// ReplayResults is results.json of a replay.
type ReplayResults struct {
	Kind        string          `json:"kind"` // "replay"
	Scenario    *spec.Scenario  `json:"scenario,omitempty"`
	Trace       string          `json:"trace"`
	Target      string          `json:"target"`
	Started     time.Time       `json:"started"`
	DurationSec float64         `json:"duration_s"`
	Machine     report.Machine  `json:"machine"`
	MemoryScope string          `json:"memory_scope"`
	Relay       *replay.Result  `json:"relay"`
	Baseline    *replay.Result  `json:"baseline,omitempty"`
	Ratios      *BaselineRatios `json:"ratios_to_baseline,omitempty"`
	Passed      bool            `json:"passed"`
	Verdict     string          `json:"verdict"`
	// MergedFrom names the segment results merged into this one (mpcrelay report merge).
	MergedFrom []string `json:"merged_from,omitempty"`
}

// BaselineRatios compare the relay to the minimal forwarder under the same load: throughput
// relay/forwarder (1 = as fast as the forwarder), latency relay/forwarder (1 = as quick).
type BaselineRatios struct {
	MessagesPerSec float64 `json:"messages_per_s"`
	LatencyP50     float64 `json:"latency_p50"`
	LatencyP99     float64 `json:"latency_p99"`
	PeakMemory     float64 `json:"peak_memory,omitempty"`
}

// Replay runs the trace against the relay and, with Baseline, against the forwarder.
func Replay(ctx context.Context, o ReplayOptions) (*ReplayResults, error) {
	if o.Trace == nil {
		return nil, errors.New("replay: no trace")
	}
	if len(o.URLs) > 1 && len(o.Faults) > 0 {
		return nil, errors.New("replay: proxy faults go through one proxy to one relay; give one --url")
	}
	if o.Baseline && len(o.Faults) > 0 {
		// The proxy dials one fixed target URL, so it cannot keep the forwarder's rooms apart.
		return nil, errors.New("replay: proxy faults and --baseline cannot be combined")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	res := &ReplayResults{Kind: "replay", Scenario: o.Scenario, Trace: o.TraceName, Target: o.URL,
		Started: time.Now().UTC(), Machine: report.ThisMachine(), MemoryScope: "this process: embedded relay and replay clients"}
	memory := func() uint64 { rss, _ := report.ProcessRSS(0); return rss }
	if len(o.RelayPIDs) > 0 {
		memory = func() uint64 {
			var sum uint64
			for _, pid := range o.RelayPIDs {
				rss, _ := report.ProcessRSS(pid)
				sum += rss
			}
			return sum
		}
		res.MemoryScope = fmt.Sprintf("relay process %v", strings.Trim(fmt.Sprint(o.RelayPIDs), "[]"))
	} else if o.URL != "" {
		res.MemoryScope = "this process: replay clients only (pass --relay-pid for the relay's)"
	}

	url, target, stopRelay, err := relayTarget(ctx, o, log)
	if err != nil {
		return nil, err
	}
	defer stopRelay()
	res.Target = target
	if len(o.Faults) > 0 {
		p, err := faultproxy.Start(url, faultproxy.Options{Logger: log}, proxyRules(o.Faults, 1)...)
		if err != nil {
			return nil, err
		}
		defer p.Close()
		url = p.URL()
	}
	var urls []string
	if len(o.URLs) > 1 && len(o.Faults) == 0 {
		urls = o.URLs
	}
	cfg := replay.Config{URL: url, URLs: urls, Target: replay.TargetRelay, Trace: o.Trace, Groups: o.Groups, Rate: o.Rate,
		TimeScale: o.TimeScale, Segment: o.Segment, StartAt: o.StartAt, Duration: o.Duration, SessionTimeout: o.SessionTimeout, Bodies: o.Bodies, Memory: memory, Logger: log,
		Relay: usage.Source{PIDs: o.RelayPIDs, MetricsURLs: o.MetricsURLs, InProcess: o.URL == ""}}
	if o.Progress != nil {
		cfg.Progress = func(n int) { o.Progress(replay.TargetRelay, n) }
	}
	start := time.Now()
	r, err := replay.Run(ctx, cfg)
	if err != nil && (r == nil || interruption(ctx) == nil) {
		return nil, err
	}
	// Interrupted, even while connecting or waiting for --start-at: reported below.
	res.Relay = r
	if o.Baseline && interruption(ctx) == nil {
		runtime.GC() // start the baseline from a comparable heap
		furl, src, stop, err := startBaseline(ctx, o)
		if err != nil {
			return nil, err
		}
		defer stop()
		cfg.URL, cfg.URLs, cfg.Target = furl, nil, replay.TargetForwarder
		cfg.StartAt = time.Time{} // passed by now: the baseline's schedule starts when it connects
		cfg.Relay = src
		cfg.Memory = func() uint64 { rss, _ := report.ProcessRSS(o.BaselinePID); return rss }
		if o.Progress != nil {
			cfg.Progress = func(n int) { o.Progress(replay.TargetForwarder, n) }
		}
		b, err := replay.Run(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
		res.Baseline = b
		res.Ratios = &BaselineRatios{
			MessagesPerSec: ratio(r.MessagesPerSec, b.MessagesPerSec),
			LatencyP50:     ratio(r.Latency.P50, b.Latency.P50),
			LatencyP99:     ratio(r.Latency.P99, b.Latency.P99),
		}
		if len(o.RelayPIDs) == 0 && o.URL == "" {
			res.Ratios.PeakMemory = ratio(float64(r.PeakMemory), float64(b.PeakMemory))
		}
	}
	res.DurationSec = time.Since(start).Seconds()
	res.Passed, res.Verdict = replayVerdict(res)
	if err := interruption(ctx); err != nil {
		// Cut short: the sessions that did run may all be clean, yet the load was not the one asked for.
		res.Passed, res.Verdict = false, "interrupted: "+res.Verdict
		return res, fmt.Errorf("replay interrupted: %w", err)
	}
	return res, nil
}

// interruption is ctx's error, or DeadlineExceeded once its deadline has passed: an I/O wait
// bounded by that deadline (a dial's connect) can fail before the context's own timer has
// marked it done — a run cut so is interrupted, not failed (TestInterruptedRunsWriteResultsAndAreNotPassed
// got "no connection could be made" under load).
func interruption(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

func shutdown(f func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = f(ctx)
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func replayVerdict(res *ReplayResults) (bool, string) {
	check := func(name string, r *replay.Result) (bool, string) {
		if r.Clean() {
			return true, fmt.Sprintf("%s: %d sessions, every one of %d deliveries reached exactly its parties, once, intact",
				name, r.SessionsCompleted, r.Delivered)
		}
		return false, fmt.Sprintf("%s: %d of %d sessions failed, %d lost, %d duplicated, %d misdelivered, %d corrupt, %d groups not connected",
			name, r.SessionsFailed, r.SessionsStarted, r.Lost, r.Duplicated, r.Misdelivered, r.Corrupt, r.GroupsNotConnected)
	}
	ok, v := check("relay", res.Relay)
	if res.Baseline != nil {
		bok, bv := check("forwarder", res.Baseline)
		ok = ok && bok
		v += "; " + bv
	}
	return ok, v
}

// Page is the report.html of a replay.
func (res *ReplayResults) Page() report.Page {
	p := report.Page{Title: "mpcrelay replay", Passed: res.Passed, Verdict: res.Verdict,
		Subtitle: fmt.Sprintf("trace %s against %s, %s", res.Trace, res.Target, res.Started.Format(time.RFC3339))}
	cols := []*replay.Result{res.Relay}
	header := []string{"", "relay"}
	if res.Baseline != nil {
		cols = append(cols, res.Baseline)
		header = append(header, "forwarder", "relay / forwarder")
	}
	row := func(name string, f func(r *replay.Result) string, ratio string) []string {
		out := []string{name}
		for _, r := range cols {
			out = append(out, f(r))
		}
		if res.Baseline != nil {
			out = append(out, ratio)
		}
		return out
	}
	rt := func(f float64) string {
		if res.Ratios == nil {
			return ""
		}
		return fmt.Sprintf("%.2f", f)
	}
	var r BaselineRatios
	if res.Ratios != nil {
		r = *res.Ratios
	}
	rows := [][]string{
		row("groups / connections", func(x *replay.Result) string { return fmt.Sprintf("%d / %d", x.Groups, x.Connections) }, ""),
		row("elapsed", func(x *replay.Result) string { return fmt.Sprintf("%.1f s", x.ElapsedSec) }, ""),
		row("sessions completed / failed", func(x *replay.Result) string { return fmt.Sprintf("%d / %d", x.SessionsCompleted, x.SessionsFailed) }, ""),
		row("frames sent (broadcast / p2p)", func(x *replay.Result) string {
			return fmt.Sprintf("%d (%d / %d)", x.FramesSent, x.Broadcasts, x.PeerToPeer)
		}, ""),
		row("bytes sent", func(x *replay.Result) string { return fmt.Sprintf("%d", x.BytesSent) }, ""),
		row("deliveries expected / delivered", func(x *replay.Result) string { return fmt.Sprintf("%d / %d", x.Expected, x.Delivered) }, ""),
		row("lost / duplicated / misdelivered / corrupt", func(x *replay.Result) string {
			return fmt.Sprintf("%d / %d / %d / %d", x.Lost, x.Duplicated, x.Misdelivered, x.Corrupt)
		}, ""),
		row("filtered by the receiver", func(x *replay.Result) string { return fmt.Sprintf("%d", x.Filtered) }, ""),
		row("messages/s", func(x *replay.Result) string { return fmt.Sprintf("%.0f", x.MessagesPerSec) }, rt(r.MessagesPerSec)),
		row("latency p50 / p90 / p99 / max (ms)", func(x *replay.Result) string {
			return fmt.Sprintf("%.2f / %.2f / %.2f / %.2f", x.Latency.P50, x.Latency.P90, x.Latency.P99, x.Latency.Max)
		}, rt(r.LatencyP99)+" (p99)"),
		row("relay errors / disconnects", func(x *replay.Result) string { return fmt.Sprintf("%d / %d", x.RelayErrors, x.Disconnects) }, ""),
		row("peak memory (MiB, "+res.MemoryScope+")", func(x *replay.Result) string { return fmt.Sprintf("%.1f", float64(x.PeakMemory)/(1<<20)) }, rt(r.PeakMemory)),
	}
	if res.Relay.OpenLoop {
		rows = append(rows,
			row("offered sessions/s (messages/s)", func(x *replay.Result) string {
				return fmt.Sprintf("%.4g (%.0f)", x.OfferedSessionsPerSec, x.OfferedPerSec)
			}, ""),
			row("latency from the actual send p50 / p99 (ms, not corrected)", func(x *replay.Result) string {
				return fmt.Sprintf("%.2f / %.2f", x.LatencyUncorrected.P50, x.LatencyUncorrected.P99)
			}, ""),
			row("schedule", func(x *replay.Result) string {
				if x.Schedule == nil {
					return ""
				}
				return x.Schedule.Verdict
			}, ""))
	}
	rows = append(rows,
		row("generator CPU per delivery (µs)", func(x *replay.Result) string {
			if x.Usage == nil {
				return ""
			}
			return fmt.Sprintf("%.1f", x.Usage.GeneratorCPUPerDeliveryUS)
		}, ""),
		row("relay (forwarder) CPU per delivery (µs)", func(x *replay.Result) string {
			if x.Usage == nil || x.Usage.RelayCPUPerDeliveryUS == 0 {
				return "not measured: " + usageSource(x)
			}
			return fmt.Sprintf("%.1f (generator / it: %.2f)", x.Usage.RelayCPUPerDeliveryUS, x.Usage.GeneratorToRelay)
		}, ""),
		row("CPU", func(x *replay.Result) string {
			if x.Usage == nil {
				return ""
			}
			return x.Usage.Verdict
		}, ""))
	p.Tables = append(p.Tables, report.Table{Title: "Delivery", Header: header, Rows: rows}, machineTable(res.Machine))
	hist := report.Plot{Title: "Delivery latency distribution", XLabel: "latency (ms, log buckets)", YLabel: "share of deliveries"}
	tput := report.Plot{Title: "Throughput over time", XLabel: "second of the run", YLabel: "deliveries/s"}
	for i, x := range cols {
		name := header[i+1]
		hist.Histograms = append(hist.Histograms, report.NamedHistogram{Name: name, Histogram: x.LatencyHistogram})
		line := report.Line{Name: name}
		for _, n := range x.Throughput {
			line.Values = append(line.Values, float64(n))
		}
		tput.Lines = append(tput.Lines, line)
	}
	p.Plots = []report.Plot{hist, tput}
	return p
}

func machineTable(m report.Machine) report.Table {
	return report.Table{Title: "Machine", Rows: [][]string{
		{"host", m.Hostname}, {"os / arch", m.OS + " / " + m.Arch}, {"cpus", fmt.Sprint(m.CPUs)},
		{"cpu model", m.CPUModel}, {"memory", fmt.Sprintf("%d MiB", m.MemoryMiB)}, {"go", m.GoVersion},
		{"open files limit", fmt.Sprint(m.FDLimit)}, {"load average at start", m.LoadAvg},
	}}
}

// ReplayBound is how long one target's replay of o can take at most (replay.Config.Bound).
func ReplayBound(o ReplayOptions) time.Duration {
	cfg := replay.Config{Trace: o.Trace, Groups: o.Groups, Rate: o.Rate, TimeScale: o.TimeScale, Duration: o.Duration,
		SessionTimeout: o.SessionTimeout, StartAt: o.StartAt}
	return cfg.Bound()
}

// startBaseline gives the forwarder to compare with: the one at BaselineURL, or one started in
// this process.
func startBaseline(ctx context.Context, o ReplayOptions) (string, usage.Source, func(), error) {
	if o.BaselineURL != "" {
		src := usage.Source{}
		if o.BaselinePID > 0 {
			src.PIDs = []int{o.BaselinePID}
		}
		return o.BaselineURL, src, func() {}, nil
	}
	furl, fstop, err := forwarder.Start(ctx, "127.0.0.1:0")
	if err != nil {
		return "", usage.Source{}, nil, fmt.Errorf("forwarder: %w", err)
	}
	return furl, usage.Source{InProcess: true}, func() { shutdown(fstop) }, nil
}

func usageSource(x *replay.Result) string {
	if x.Usage == nil {
		return ""
	}
	return x.Usage.RelaySource
}

// relayTarget is the relay a replay or a sweep loads: the one at o.URL, or the embedded
// reference relay started here (stop shuts it down).
func relayTarget(ctx context.Context, o ReplayOptions, log *slog.Logger) (url, target string, stop func(), err error) {
	if o.URL != "" {
		return o.URL, o.URL, func() {}, nil
	}
	emb, err := startEmbedded(ctx, log)
	if err != nil {
		return "", "", nil, err
	}
	return emb.url(), EmbeddedTarget, emb.shutdown, nil
}
