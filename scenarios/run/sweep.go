package run

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"mpcrelay/scenarios/replay"
	"mpcrelay/scenarios/report"
	"mpcrelay/scenarios/usage"
)

// SweepOptions configure a capacity search: open-loop steps of rising offered rate.
type SweepOptions struct {
	// Replay gives the trace, groups, time scale, session bound, targets and --baseline; its
	// Rate and Duration are set by each step.
	Replay ReplayOptions
	Start  float64       // first step's rate, sessions/s
	Factor float64       // each next step's rate is the last one's times this (> 1)
	Max    float64       // no step above this rate (0: no cap)
	Step   time.Duration // how long each step is held
	SLO    time.Duration // a step passes when p99 delivery latency ≤ SLO ...
	// ... and nothing was lost, late, corrupt, duplicated or misdelivered, no session failed
	// and every session due started. Refine bisects between the last passing and the first
	// failing rate this many times.
	Refine   int
	MaxSteps int // bound on the ramp's steps per target (default 30)
	Progress func(line string)
}

// SweepStep is one held rate against one target.
type SweepStep struct {
	Target                string         `json:"target"`
	OfferedSessionsPerSec float64        `json:"offered_sessions_per_s"`
	OfferedPerSec         float64        `json:"offered_messages_per_s"`
	AchievedPerSec        float64        `json:"achieved_messages_per_s"` // see replay.Result
	Latency               report.Latency `json:"delivery_latency"`
	LatencyHDR            string         `json:"delivery_latency_hdr"`
	Delivered             int64          `json:"delivered"`
	Lost                  int64          `json:"lost"`
	Late                  int64          `json:"late"`
	Wrong                 int64          `json:"duplicated_misdelivered_corrupt"`
	SessionsFailed        int64          `json:"sessions_failed"`
	SessionsNotStarted    int64          `json:"sessions_not_started"`
	GeneratorKept         bool           `json:"generator_kept_schedule"`
	// GroupsShort: the step failed only because sessions due never started, latencies within
	// the SLO — the groups, not the target, were the limit.
	GroupsShort bool          `json:"groups_short,omitempty"`
	Usage       *usage.Report `json:"usage,omitempty"`
	Pass        bool          `json:"pass"`
	Why         string        `json:"why"`
}

// SweepSeries is the search against one target.
type SweepSeries struct {
	Steps []SweepStep `json:"steps"`
	// Knee is the highest rate that met the SLO (0: none did), in sessions/s and deliveries/s.
	Knee        float64        `json:"knee_sessions_per_s"`
	KneePerSec  float64        `json:"knee_messages_per_s"`
	KneeLatency report.Latency `json:"knee_latency"`
	StopReason  string         `json:"stop_reason"`
	// GeneratorLimited: the first failing step had the generator behind its schedule, or too
	// few groups for its rate (SweepStep.GroupsShort), so the
	// knee is a lower bound set by the generator, not the target.
	GeneratorLimited bool `json:"generator_limited"`
}

// SweepResults is results.json of a capacity search.
type SweepResults struct {
	Kind        string         `json:"kind"` // "sweep"
	Trace       string         `json:"trace"`
	Target      string         `json:"target"`
	Started     time.Time      `json:"started"`
	DurationSec float64        `json:"duration_s"`
	Machine     report.Machine `json:"machine"`
	Groups      int            `json:"groups"`
	TimeScale   float64        `json:"time_scale"`
	StepSec     float64        `json:"step_s"`
	SLOms       float64        `json:"slo_p99_ms"`
	Relay       *SweepSeries   `json:"relay"`
	Baseline    *SweepSeries   `json:"baseline,omitempty"`
	// KneeRatio is the relay's knee over the forwarder's (deliveries/s).
	KneeRatio float64 `json:"knee_ratio_to_baseline,omitempty"`
	Passed    bool    `json:"passed"`
	Verdict   string  `json:"verdict"`
}

// sweeper runs the steps of one target.
type sweeper struct {
	name   string
	cfg    replay.Config
	series *SweepSeries
	// Ramp state: lastPass and firstFail rates (0: none yet), refinements left.
	next, lastPass, firstFail float64
	refineLeft, steps         int
	done                      bool
}

// Sweep ramps the offered rate against the relay (and, with Baseline, the forwarder,
// interleaved step by step so that both see the same machine) until each fails its SLO.
func Sweep(ctx context.Context, o SweepOptions) (*SweepResults, error) {
	ro := o.Replay
	if ro.Trace == nil {
		return nil, errors.New("sweep: no trace")
	}
	if o.Start <= 0 || o.Factor <= 1 || o.Step <= 0 || o.SLO <= 0 {
		return nil, errors.New("sweep: start > 0, factor > 1, step > 0 and slo > 0 are required")
	}
	if o.MaxSteps <= 0 {
		o.MaxSteps = 30
	}
	if len(ro.Faults) > 0 {
		return nil, errors.New("sweep: proxy faults are not part of a capacity search")
	}
	log := ro.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	res := &SweepResults{Kind: "sweep", Trace: ro.TraceName, Target: ro.URL, Started: time.Now().UTC(),
		Machine: report.ThisMachine(), Groups: ro.Groups, TimeScale: ro.TimeScale, StepSec: o.Step.Seconds(),
		SLOms: float64(o.SLO) / float64(time.Millisecond)}
	if res.TimeScale == 0 {
		res.TimeScale = 1
	}
	url, target, stopRelay, err := relayTarget(ctx, ro, log)
	if err != nil {
		return nil, err
	}
	defer stopRelay()
	res.Target = target
	var urls []string
	if len(ro.URLs) > 1 {
		urls = ro.URLs
	}
	base := replay.Config{Trace: ro.Trace, Groups: ro.Groups, TimeScale: ro.TimeScale, SessionTimeout: ro.SessionTimeout,
		Bodies: ro.Bodies, Logger: log, Duration: o.Step}
	relayCfg := base
	relayCfg.URL, relayCfg.URLs, relayCfg.Target = url, urls, replay.TargetRelay
	relayCfg.Relay = usage.Source{PIDs: ro.RelayPIDs, MetricsURLs: ro.MetricsURLs, InProcess: ro.URL == ""}
	sweepers := []*sweeper{{name: replay.TargetRelay, cfg: relayCfg, series: &SweepSeries{}, next: o.Start, refineLeft: o.Refine}}
	res.Relay = sweepers[0].series
	if ro.Baseline {
		furl, src, stop, err := startBaseline(ctx, ro)
		if err != nil {
			return nil, err
		}
		defer stop()
		fcfg := base
		fcfg.URL, fcfg.Target, fcfg.Relay = furl, replay.TargetForwarder, src
		res.Baseline = &SweepSeries{}
		sweepers = append(sweepers, &sweeper{name: replay.TargetForwarder, cfg: fcfg, series: res.Baseline, next: o.Start, refineLeft: o.Refine})
	}

	start := time.Now()
	for {
		active := 0
		for _, s := range sweepers {
			if s.done {
				continue
			}
			active++
			if err := s.step(ctx, o); err != nil {
				return nil, err
			}
		}
		if active == 0 || interruption(ctx) != nil {
			break
		}
	}
	res.DurationSec = time.Since(start).Seconds()
	res.Passed, res.Verdict = sweepVerdict(res)
	if res.Baseline != nil && res.Baseline.KneePerSec > 0 {
		res.KneeRatio = res.Relay.KneePerSec / res.Baseline.KneePerSec
	}
	if err := interruption(ctx); err != nil {
		res.Passed = false
		res.Verdict = "interrupted: " + res.Verdict
		return res, fmt.Errorf("sweep interrupted: %w", err)
	}
	return res, nil
}

// step runs the sweeper's next rate and decides the one after it.
func (s *sweeper) step(ctx context.Context, o SweepOptions) error {
	rate := s.next
	cfg := s.cfg
	cfg.Rate = rate
	r, err := replay.Run(ctx, cfg)
	if interruption(ctx) != nil {
		// Cut short by the interruption: not a measurement of this rate (its sessions ended
		// early, yet every delivery of those run may have been on time). Sweep reports it.
		return nil
	}
	if err != nil {
		return fmt.Errorf("sweep %s at %.4g sessions/s: %w", s.name, rate, err)
	}
	st := judgeStep(s.name, r, o.SLO)
	s.series.Steps = append(s.series.Steps, st)
	s.steps++
	if o.Progress != nil {
		verdict := "pass"
		if !st.Pass {
			verdict = "FAIL: " + st.Why
		}
		o.Progress(fmt.Sprintf("%-9s %8.4g sessions/s (%8.0f msgs/s offered, %8.0f achieved): p50 %7.2f ms p99 %8.2f ms — %s",
			s.name, rate, st.OfferedPerSec, st.AchievedPerSec, st.Latency.P50, st.Latency.P99, verdict))
	}
	if st.Pass {
		s.lastPass = rate
		if rate > s.series.Knee {
			s.series.Knee, s.series.KneePerSec, s.series.KneeLatency = rate, st.OfferedPerSec, st.Latency
		}
	} else if s.firstFail == 0 || rate < s.firstFail {
		s.firstFail = rate
		if s.lastPass < s.firstFail {
			s.series.GeneratorLimited = !st.GeneratorKept || st.GroupsShort
			s.series.StopReason = fmt.Sprintf("at %.4g sessions/s: %s", rate, st.Why)
		}
	}
	switch {
	case s.firstFail == 0 && s.steps < o.MaxSteps && (o.Max == 0 || rate < o.Max):
		s.next = rate * o.Factor // still ramping
		if o.Max > 0 {
			s.next = min(s.next, o.Max)
		}
	case s.firstFail > 0 && s.refineLeft > 0 && s.lastPass > 0:
		s.refineLeft--
		s.next = (s.lastPass + s.firstFail) / 2 // bisect towards the knee
	default:
		s.done = true
		if s.firstFail == 0 {
			s.series.StopReason = fmt.Sprintf("no step failed up to %.4g sessions/s (the --sweep-max or step cap)", rate)
		}
	}
	return nil
}

func judgeStep(target string, r *replay.Result, slo time.Duration) SweepStep {
	st := SweepStep{Target: target, OfferedSessionsPerSec: r.OfferedSessionsPerSec, OfferedPerSec: r.OfferedPerSec,
		AchievedPerSec: r.AchievedPerSec, Latency: r.Latency, LatencyHDR: r.LatencyHDR, Delivered: r.Delivered,
		Lost: r.Lost, Late: r.Late, Wrong: r.Duplicated + r.Misdelivered + r.Corrupt, SessionsFailed: r.SessionsFailed,
		Usage: r.Usage, GeneratorKept: true}
	if r.Schedule != nil {
		st.SessionsNotStarted = r.Schedule.NotStarted
		st.GeneratorKept = r.Schedule.Kept
	}
	sloMS := float64(slo) / float64(time.Millisecond)
	var why []string
	if r.Latency.P99 > sloMS {
		why = append(why, fmt.Sprintf("p99 %.2f ms > %.0f ms", r.Latency.P99, sloMS))
	}
	if st.Lost > 0 || st.Late > 0 {
		why = append(why, fmt.Sprintf("%d lost, %d late", st.Lost, st.Late))
	}
	if st.Wrong > 0 {
		why = append(why, fmt.Sprintf("%d duplicated, misdelivered or corrupt", st.Wrong))
	}
	if st.SessionsFailed > 0 || r.GroupsNotConnected > 0 {
		why = append(why, fmt.Sprintf("%d sessions failed, %d groups not connected", st.SessionsFailed, r.GroupsNotConnected))
	}
	if st.SessionsNotStarted > 0 {
		why = append(why, fmt.Sprintf("%d sessions due never started", st.SessionsNotStarted))
		// Nothing else wrong: the relay answered in time, but a group runs one session at a
		// time and there were too few of them for the rate.
		st.GroupsShort = len(why) == 1
	}
	if r.Delivered == 0 {
		why = append(why, "nothing delivered")
	}
	st.Pass = len(why) == 0
	if !st.Pass && !st.GeneratorKept {
		why = append(why, "and the generator fell behind its schedule (its CPU)")
	}
	if st.GroupsShort {
		why = append(why, "with every latency within the SLO: too few --groups for this rate (a group runs one session at a time), not the target's limit")
	}
	st.Why = strings.Join(why, "; ")
	if st.Pass {
		st.Why = fmt.Sprintf("p99 %.2f ms ≤ %.0f ms, every delivery on time", r.Latency.P99, sloMS)
	}
	return st
}

func sweepVerdict(res *SweepResults) (bool, string) {
	line := func(name string, s *SweepSeries) string {
		if s.Knee == 0 {
			return fmt.Sprintf("%s: no step met the SLO (%s)", name, s.StopReason)
		}
		v := fmt.Sprintf("%s: knee %.4g sessions/s = %.0f msgs/s at p99 ≤ %.0f ms (p99 there %.2f ms); stopped %s",
			name, s.Knee, s.KneePerSec, res.SLOms, s.KneeLatency.P99, s.StopReason)
		if s.GeneratorLimited {
			v += " — the generator (its CPU or its --groups) was the limit first, so this is a lower bound"
		}
		return v
	}
	v := line("relay", res.Relay)
	ok := res.Relay.Knee > 0
	if res.Baseline != nil {
		v += "; " + line("forwarder", res.Baseline)
	}
	return ok, v
}
