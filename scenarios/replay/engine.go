package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"mpcrelay/relay/protocol"
	"mpcrelay/scenarios/report"
	"mpcrelay/scenarios/usage"
)

const (
	defaultSessionTimeout = 30 * time.Second
	defaultDialParallel   = 64
	maxErrorSamples       = 10
	retiredKept           = 16 // closed sessions a group still recognises, to tell late frames from strays
	recorderShards        = 16
	// lateAfter: a session start or a send later than this after its due time is late.
	lateAfter = 10 * time.Millisecond
)

// engine owns one replay run: its groups, their connections and the shared counters.
type engine struct {
	cfg   Config
	log   *slog.Logger
	start time.Time
	plans []*plan
	scale float64

	started, completed, failed           atomic.Int64
	framesSent, bytesSent, bcast, p2p    atomic.Int64
	expected, delivered, duplicated      atomic.Int64
	misdelivered, corrupt, filtered      atomic.Int64
	late, lost, relayErrors, disconnects atomic.Int64
	due, dueDeliveries, startedLate      atomic.Int64
	notStarted                           atomic.Int64

	latency, uncorrected, startLag, sendLag *report.Recorder

	mu      sync.Mutex
	reasons map[string]int64
	samples []string
}

// Run replays the trace and returns what it measured. It stops by itself: after Duration (or
// one session per group) plus the time in-flight sessions need to finish, bounded by
// SessionTimeout; ctx bounds the whole. An error means the run could not be set up at all.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Target == "" {
		cfg.Target = TargetRelay
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = defaultSessionTimeout
	}
	if cfg.DialParallel <= 0 {
		cfg.DialParallel = defaultDialParallel
	}
	e := &engine{cfg: cfg, log: cfg.Logger, reasons: map[string]int64{}, scale: cfg.TimeScale,
		latency: report.NewRecorder(recorderShards), uncorrected: report.NewRecorder(recorderShards),
		startLag: report.NewRecorder(recorderShards), sendLag: report.NewRecorder(recorderShards)}
	if e.scale == 0 {
		e.scale = 1
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	for _, s := range cfg.Trace.Sessions {
		p, err := newPlan(s, cfg.Bodies)
		if err != nil {
			return nil, err
		}
		e.plans = append(e.plans, p)
	}

	first, end := cfg.Segment.Range(cfg.Groups)
	groups := make([]*group, 0, end-first)
	for i := first; i < end; i++ {
		groups = append(groups, &group{e: e, index: i, plan: e.plans[i%len(e.plans)]})
	}
	res := &Result{Target: cfg.Target, URL: cfg.urls()[0], Groups: len(groups), OpenLoop: cfg.Rate > 0}
	if len(cfg.urls()) > 1 {
		res.URLs = cfg.urls()
	}
	if cfg.Segment != (Segment{}) {
		res.Segment, res.GroupFirst, res.GroupsTotal = cfg.Segment.String(), first, cfg.Groups
	}
	for _, p := range e.plans {
		if !slices.Contains(res.Rule, p.rule) {
			res.Rule = append(res.Rule, p.rule)
		}
	}

	// Connect every group first, so that the measured part is the traffic, not the dialling.
	dialFailed := e.connectAll(ctx, groups)
	for _, g := range groups {
		res.Connections += len(g.peers)
	}
	res.GroupsNotConnected = dialFailed
	closeAll := sync.OnceFunc(func() {
		var wg sync.WaitGroup
		for _, g := range groups {
			wg.Add(1)
			go func() { defer wg.Done(); g.close() }()
		}
		wg.Wait()
	})
	defer closeAll()
	if dialFailed > 0 && res.Connections == 0 {
		return res, fmt.Errorf("replay: no connection to %s could be made", res.URL)
	}

	if !cfg.StartAt.IsZero() {
		if err := sleepUntil(ctx, cfg.StartAt); err != nil {
			return res, fmt.Errorf("replay: waiting for the start time: %w", err)
		}
	}
	memCtx, stopMem := context.WithCancel(ctx)
	peak := make(chan uint64, 1)
	go e.sampleMemory(memCtx, peak)

	e.start = time.Now()
	if !cfg.StartAt.IsZero() {
		e.start = cfg.StartAt // the shared origin of every segment's schedule
	}
	meter := usage.Start(ctx, cfg.Relay)
	var deadline time.Time
	if cfg.Duration > 0 {
		deadline = e.start.Add(cfg.Duration)
	}
	var wg sync.WaitGroup
	for _, g := range groups {
		if !g.ready {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if cfg.Rate > 0 {
				g.openLoop(ctx)
			} else {
				g.loop(ctx, deadline)
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(e.start)
	stopMem()
	res.PeakMemory = <-peak
	// Every connection stays open until here, so a frame still in flight is counted, not lost.
	closeAll()
	u := meter.Stop(ctx, e.delivered.Load())
	res.Usage = &u

	var perSec []int64
	for _, g := range groups {
		for _, pc := range g.peers {
			for i, n := range pc.perSecond {
				for len(perSec) <= i {
					perSec = append(perSec, 0)
				}
				perSec[i] += n
			}
		}
	}
	e.fill(res, perSec)
	return res, nil
}

func (c *Config) check() error {
	if c.Trace == nil || len(c.Trace.Sessions) == 0 {
		return errors.New("replay: no trace")
	}
	if c.Groups < 1 {
		return fmt.Errorf("replay: groups must be at least 1, got %d", c.Groups)
	}
	if c.Target != "" && c.Target != TargetRelay && c.Target != TargetForwarder {
		return fmt.Errorf("replay: unknown target %q", c.Target)
	}
	if c.Target == TargetForwarder && len(c.URLs) > 1 {
		return errors.New("replay: the forwarder baseline is one process; it takes one URL")
	}
	if math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) || c.Rate < 0 {
		return fmt.Errorf("replay: rate must be a finite number ≥ 0, got %v", c.Rate)
	}
	if err := CheckRate(c.Rate); err != nil {
		return fmt.Errorf("replay: rate %w", err)
	}
	if math.IsNaN(c.TimeScale) || math.IsInf(c.TimeScale, 0) || c.TimeScale < 0 {
		return fmt.Errorf("replay: time scale must be a finite number ≥ 0, got %v", c.TimeScale)
	}
	if c.Duration < 0 || c.SessionTimeout < 0 {
		return errors.New("replay: durations must not be negative")
	}
	if err := c.Segment.Check(); err != nil {
		return err
	}
	if first, end := c.Segment.Range(c.Groups); first == end {
		return fmt.Errorf("replay: segment %s of %d groups has no group: use at least %d groups", c.Segment, c.Groups, c.Segment.N)
	}
	return nil
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

func (e *engine) fill(res *Result, perSec []int64) {
	res.ElapsedSec = res.Elapsed.Seconds()
	res.SessionsStarted = e.started.Load()
	res.SessionsCompleted = e.completed.Load()
	res.SessionsFailed = e.failed.Load()
	res.FramesSent = e.framesSent.Load()
	res.BytesSent = e.bytesSent.Load()
	res.Broadcasts = e.bcast.Load()
	res.PeerToPeer = e.p2p.Load()
	res.Expected = e.expected.Load()
	res.Delivered = e.delivered.Load()
	res.Lost = e.lost.Load()
	res.Duplicated = e.duplicated.Load()
	res.Misdelivered = e.misdelivered.Load()
	res.Corrupt = e.corrupt.Load()
	res.Filtered = e.filtered.Load()
	res.Late = e.late.Load()
	res.RelayErrors = e.relayErrors.Load()
	res.Disconnects = e.disconnects.Load()
	if res.Elapsed > 0 {
		res.MessagesPerSec = float64(res.Delivered) / res.Elapsed.Seconds()
	}
	lat, raw := e.latency.Merged(), e.uncorrected.Merged()
	if !res.OpenLoop {
		raw = lat // recorded once (deliver)
	}
	res.Latency, res.LatencyUncorrected = report.LatencyOf(lat), report.LatencyOf(raw)
	res.LatencyHDR, res.LatencyUncorrectedHDR = report.EncodeHDR(lat), report.EncodeHDR(raw)
	res.LatencyHistogram = report.HistogramOf(lat)
	res.Throughput = perSec
	if res.OpenLoop {
		first, end := e.cfg.Segment.Range(e.cfg.Groups)
		res.OfferedSessionsPerSec = e.cfg.Rate * float64(end-first) / float64(e.cfg.Groups)
		if due := e.due.Load(); due > 0 {
			res.OfferedPerSec = res.OfferedSessionsPerSec * float64(e.dueDeliveries.Load()) / float64(due)
			res.AchievedPerSec = res.OfferedPerSec * float64(res.Delivered) / float64(e.dueDeliveries.Load())
		}
		res.TimeScale = e.scale
		start, send := e.startLag.Merged(), e.sendLag.Merged()
		s := &Schedule{SessionsDue: e.due.Load(), DeliveriesDue: e.dueDeliveries.Load(), StartedLate: e.startedLate.Load(), NotStarted: e.notStarted.Load(),
			StartLag: report.LatencyOf(start), StartLagHDR: report.EncodeHDR(start),
			SendLag: report.LatencyOf(send), SendLagHDR: report.EncodeHDR(send),
			LateAfterMS: float64(lateAfter) / float64(time.Millisecond)}
		s.Kept, s.Verdict = ScheduleVerdict(s)
		res.Schedule = s
	}
	e.mu.Lock()
	if len(e.reasons) > 0 {
		res.FailureReasons = e.reasons
	}
	res.ErrorSamples = e.samples
	e.mu.Unlock()
}

// ScheduleVerdict: the generator kept its schedule when its own send lag stayed within
// lateAfter at p99. Sessions starting late because their group was busy are the relay's
// slowness (or too few groups for the rate), and are in the latencies already.
func ScheduleVerdict(s *Schedule) (bool, string) {
	kept := s.SendLag.P99 <= s.LateAfterMS
	var v string
	if kept {
		v = fmt.Sprintf("the generator kept its schedule (own send lag p99 %.2f ms)", s.SendLag.P99)
	} else {
		v = fmt.Sprintf("the generator fell behind its schedule: own send lag p99 %.2f ms > %.0f ms (it lacked CPU); latencies include its lag",
			s.SendLag.P99, s.LateAfterMS)
	}
	if s.NotStarted > 0 {
		v += fmt.Sprintf("; %d of %d sessions due never started: their group was still busy when the run ended", s.NotStarted, s.SessionsDue)
	}
	if s.StartedLate > 0 {
		v += fmt.Sprintf("; %d of %d sessions started more than %.0f ms late because their group was still busy (p99 %.1f ms): the relay was slower than the schedule, or --groups is too small for --rate",
			s.StartedLate, s.SessionsDue, s.LateAfterMS, s.StartLag.P99)
	}
	return kept, v
}

func (e *engine) sampleMemory(ctx context.Context, out chan<- uint64) {
	var peak uint64
	defer func() { out <- peak }()
	if e.cfg.Memory == nil {
		return
	}
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		peak = max(peak, e.cfg.Memory())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// connectAll dials every group's connections with bounded parallelism and sets the groups up.
func (e *engine) connectAll(ctx context.Context, groups []*group) (failed int) {
	sem := make(chan struct{}, e.cfg.DialParallel)
	var wg sync.WaitGroup
	var nFailed atomic.Int64
	for _, g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Bounded like a session: a relay that never answers must not hold the run.
			cctx, cancel := context.WithTimeout(ctx, e.cfg.SessionTimeout)
			defer cancel()
			if err := g.connect(cctx, sem); err != nil {
				nFailed.Add(1)
				e.fail("connect: " + err.Error())
			}
		}()
	}
	wg.Wait()
	return int(nFailed.Load())
}

var (
	reAddr   = regexp.MustCompile(`\d+\.\d+\.\d+\.\d+:\d+`)
	reNumber = regexp.MustCompile(`\d+`)
)

// fail records a failure reason. Addresses and numbers are masked so that failures of one
// cause count under one key.
func (e *engine) fail(reason string) {
	key := reNumber.ReplaceAllString(reAddr.ReplaceAllString(reason, "ADDR"), "N")
	if len(key) > 160 {
		key = key[:160]
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.reasons[key]; ok || len(e.reasons) < 50 {
		e.reasons[key]++
	}
}

// relayError counts an error response to a replayed request; errObj is its error member.
func (e *engine) relayError(errObj []byte) {
	e.relayErrors.Add(1)
	text := string(errObj)
	var pe protocol.Error
	if json.Unmarshal(errObj, &pe) == nil {
		text = pe.Error()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.samples) < maxErrorSamples {
		e.samples = append(e.samples, text)
	}
}

// since is the engine clock: nanoseconds from the start of the run.
func (e *engine) since(t time.Time) int64 { return int64(t.Sub(e.start)) }
