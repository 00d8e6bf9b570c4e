package replay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"mpcrelay/relay/protocol"
	"mpcrelay/scenarios/report"
)

const (
	defaultSessionTimeout = 30 * time.Second
	defaultDialParallel   = 64
	maxErrorSamples       = 10
	retiredKept           = 16 // closed sessions a group still recognises, to tell late frames from strays
)

// engine owns one replay run: its groups, their connections and the shared counters.
type engine struct {
	cfg   Config
	log   *slog.Logger
	start time.Time
	plans []*plan

	started, completed, failed           atomic.Int64
	framesSent, bytesSent, bcast, p2p    atomic.Int64
	expected, delivered, duplicated      atomic.Int64
	misdelivered, corrupt, filtered      atomic.Int64
	late, lost, relayErrors, disconnects atomic.Int64

	mu       sync.Mutex
	reasons  map[string]int64
	samples  []string
	nextSlot atomic.Int64 // rate limiter: the next start slot
}

// Run replays the trace and returns what it measured. It stops by itself: after Duration (or
// one session per group) plus the time in-flight sessions need to finish, bounded by
// SessionTimeout. An error means the run could not be set up at all.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Trace == nil || len(cfg.Trace.Sessions) == 0 {
		return nil, errors.New("replay: no trace")
	}
	if cfg.Groups < 1 {
		return nil, fmt.Errorf("replay: groups must be at least 1, got %d", cfg.Groups)
	}
	if cfg.Target == "" {
		cfg.Target = TargetRelay
	}
	if cfg.Target != TargetRelay && cfg.Target != TargetForwarder {
		return nil, fmt.Errorf("replay: unknown target %q", cfg.Target)
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = defaultSessionTimeout
	}
	if cfg.DialParallel <= 0 {
		cfg.DialParallel = defaultDialParallel
	}
	e := &engine{cfg: cfg, log: cfg.Logger, reasons: map[string]int64{}}
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

	groups := make([]*group, cfg.Groups)
	for i := range groups {
		groups[i] = &group{e: e, index: i, plan: e.plans[i%len(e.plans)]}
	}
	res := &Result{Target: cfg.Target, URL: cfg.URL, Groups: cfg.Groups}
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
	defer func() {
		var wg sync.WaitGroup
		for _, g := range groups {
			wg.Add(1)
			go func() { defer wg.Done(); g.close() }()
		}
		wg.Wait()
	}()
	if dialFailed > 0 && res.Connections == 0 {
		return res, fmt.Errorf("replay: no connection to %s could be made", cfg.URL)
	}

	memCtx, stopMem := context.WithCancel(ctx)
	peak := make(chan uint64, 1)
	go e.sampleMemory(memCtx, peak)

	e.start = time.Now()
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
			g.loop(ctx, deadline)
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(e.start)
	stopMem()
	res.PeakMemory = <-peak

	// Every connection stays open until here, so a frame still in flight is counted, not lost.
	var lat []time.Duration
	var perSec []int64
	for _, g := range groups {
		for _, pc := range g.peers {
			pc.stop()
			lat = append(lat, pc.latency...)
			for i, n := range pc.perSecond {
				for len(perSec) <= i {
					perSec = append(perSec, 0)
				}
				perSec[i] += n
			}
		}
	}
	e.fill(res, lat, perSec)
	return res, nil
}

func (e *engine) fill(res *Result, lat []time.Duration, perSec []int64) {
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
	res.LatencyHistogram = report.NewHistogram(lat)
	res.Latency = report.Summarize(lat)
	res.Throughput = perSec
	e.mu.Lock()
	if len(e.reasons) > 0 {
		res.FailureReasons = e.reasons
	}
	res.ErrorSamples = e.samples
	e.mu.Unlock()
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
			if err := g.connect(ctx, sem); err != nil {
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

func (e *engine) relayError(text string) {
	e.relayErrors.Add(1)
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.samples) < maxErrorSamples {
		e.samples = append(e.samples, text)
	}
}

// waitSlot enforces Rate: session starts are spaced 1/Rate apart over all groups.
func (e *engine) waitSlot(ctx context.Context) error {
	if e.cfg.Rate <= 0 {
		return ctx.Err()
	}
	k := e.nextSlot.Add(1) - 1
	at := e.start.Add(time.Duration(float64(k) / e.cfg.Rate * float64(time.Second)))
	d := time.Until(at)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// since is the engine clock: nanoseconds from the start of the run.
func (e *engine) since(t time.Time) int64 { return int64(t.Sub(e.start)) }

// group is one replayed group: its connections (one per party of the session's group) and the
// session it runs now.
type group struct {
	e     *engine
	index int
	plan  *plan
	id    uuid.UUID // relay: the group's uuid; forwarder: the room
	peers []*peer
	ready bool

	mu      sync.Mutex
	current *run
	retired []*run
}

// lookup finds the run a frame of session id belongs to: the current one or a recently
// closed one (where a second copy is a duplicate and a first one late).
func (g *group) lookup(id uuid.UUID) *run {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.current != nil && g.current.id == id {
		return g.current
	}
	for _, r := range g.retired {
		if r.id == id {
			return r
		}
	}
	return nil
}

func (g *group) setCurrent(r *run) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.current != nil {
		g.retired = append(g.retired, g.current)
		if len(g.retired) > retiredKept {
			g.retired = g.retired[1:]
		}
	}
	g.current = r
}

// loop replays the group's session until the deadline (or once without one).
func (g *group) loop(ctx context.Context, deadline time.Time) {
	for {
		if err := g.e.waitSlot(ctx); err != nil {
			return
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			return
		}
		g.e.started.Add(1)
		if err := g.replayOnce(ctx); err != nil {
			g.e.failed.Add(1)
			g.e.fail(err.Error())
			g.e.log.Debug("replayed session failed", "group", g.index, "err", err)
			if g.lostConnection() {
				return
			}
		} else {
			g.e.completed.Add(1)
		}
		if g.e.cfg.Progress != nil {
			g.e.cfg.Progress(int(g.e.completed.Load() + g.e.failed.Load()))
		}
		if deadline.IsZero() || ctx.Err() != nil {
			return
		}
	}
}

func (g *group) lostConnection() bool {
	for _, p := range g.peers {
		if p.closed() {
			return true
		}
	}
	return false
}

// replayOnce runs one session: set-up (relay only), messages, finish (relay only).
func (g *group) replayOnce(ctx context.Context) error {
	p := g.plan
	k := len(p.s.Members)
	r := &run{g: g, plan: p, numbers: make([]uint16, k), sentAt: make([]atomic.Int64, len(p.msgs)),
		members: make([]*memberState, k), memberOf: make([]int, len(g.peers)), done: make(chan struct{})}
	for i := range r.memberOf {
		r.memberOf[i] = -1
	}
	for j := range k {
		r.memberOf[j] = j // members are the first k connections of the group
		r.members[j] = &memberState{got: make([]uint8, p.slots[j]), wake: make(chan struct{}, 1)}
	}
	r.remaining.Store(int64(p.total))
	g.e.expected.Add(int64(p.total))

	sctx, cancel := context.WithTimeout(ctx, g.e.cfg.SessionTimeout)
	defer cancel()
	if err := g.open(sctx, r); err != nil {
		// Nothing was sent: these deliveries were never expected.
		r.failed.Store(true)
		g.setCurrent(nil)
		g.e.expected.Add(-int64(p.total))
		return err
	}
	var wg sync.WaitGroup
	sendErr := make(chan error, k)
	for j := range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.sendAll(sctx, j); err != nil {
				sendErr <- err
				cancel()
			}
		}()
	}
	var err error
	select {
	case <-r.done:
	case <-sctx.Done():
		err = fmt.Errorf("session %s: %w with %d of %d deliveries missing", p.s.ID, sctx.Err(), r.remaining.Load(), p.total)
	}
	wg.Wait()
	select {
	case e := <-sendErr:
		err = fmt.Errorf("session %s: send: %w", p.s.ID, e)
	default:
	}
	if err != nil {
		// Frames may still arrive; they then count as late, not as delivered.
		r.failed.Store(true)
		g.setCurrent(nil)
		g.e.lost.Add(r.remaining.Load())
		return err
	}
	// Finishing gets its own bound: a session whose messages took most of theirs still gets
	// a fair wait for Session.finish and sessionClosed.
	fctx, fcancel := context.WithTimeout(ctx, g.e.cfg.SessionTimeout)
	defer fcancel()
	return g.closeSession(fctx, r)
}

// run is one replayed session.
type run struct {
	g        *group
	plan     *plan
	id       uuid.UUID
	numbers  []uint16 // member → party number in this session
	memberOf []int    // connection → member, -1 when the connection is not a party
	sentAt   []atomic.Int64
	members  []*memberState

	remaining atomic.Int64
	failed    atomic.Bool
	done      chan struct{}
	doneOnce  sync.Once
}

// memberState tracks what one member has received; its sender waits on it.
type memberState struct {
	mu     sync.Mutex
	got    []uint8 // per expected delivery: times received
	prefix int     // deliveries 0..prefix-1 have all arrived
	wake   chan struct{}
}

func (m *memberState) arrived() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.prefix
}

// sendAll sends member j's messages, each once its inputs have arrived.
func (r *run) sendAll(ctx context.Context, j int) error {
	ms := r.members[j]
	pc := r.g.peers[j]
	for _, i := range r.plan.sends[j] {
		m := &r.plan.msgs[i]
		for ms.arrived() < m.need {
			select {
			case <-ms.wake:
			case <-ctx.Done():
				return nil // the session's timeout reports it
			}
		}
		msg := protocol.Message{Round: m.round, Sender: r.numbers[j], UUID: r.id, Body: m.body}
		if m.receiver >= 0 {
			msg.Receiver = protocol.Receiver(r.numbers[m.receiver])
			r.g.e.p2p.Add(1)
		} else {
			r.g.e.bcast.Add(1)
		}
		frame, err := protocol.NewRequest(pc.nextID(), protocol.MethodSessionMessage, protocol.SessionMessageParams{
			GroupID: r.g.id, SessionID: r.id, Kind: r.plan.kind, Message: msg})
		if err != nil {
			return err
		}
		r.sentAt[i].Store(r.g.e.since(time.Now()))
		if err := pc.send(ctx, frame); err != nil {
			return err
		}
		r.g.e.framesSent.Add(1)
		r.g.e.bytesSent.Add(int64(len(frame)))
	}
	return nil
}

// deliver checks one received Session.message against the plan (§4.7: exactly the addressed
// parties, once, with round, sender, receiver, uuid and body unchanged).
func (r *run) deliver(pc *peer, msg protocol.Message, at time.Time, forwarder bool) {
	e := r.g.e
	j := r.memberOf[pc.index]
	i, ok := bodyIndex(msg.Body)
	if !ok || i < 0 || i >= len(r.plan.msgs) {
		e.corrupt.Add(1)
		return
	}
	m := &r.plan.msgs[i]
	if forwarder && (j < 0 || (msg.Receiver != nil && *msg.Receiver != r.numbers[j])) {
		e.filtered.Add(1) // the blind forwarder's copy of someone else's message
		return
	}
	if j < 0 || m.slot[j] < 0 {
		e.misdelivered.Add(1)
		return
	}
	if !intact(r, m, msg) {
		e.corrupt.Add(1)
		return
	}
	ms := r.members[j]
	s := m.slot[j]
	ms.mu.Lock()
	ms.got[s]++
	first := ms.got[s] == 1
	if first {
		for ms.prefix < len(ms.got) && ms.got[ms.prefix] > 0 {
			ms.prefix++
		}
	}
	ms.mu.Unlock()
	if !first {
		e.duplicated.Add(1)
		return
	}
	if r.failed.Load() {
		// Arrived after its session's bound: late, and no longer lost (the failing session
		// booked every missing delivery as lost).
		e.late.Add(1)
		e.lost.Add(-1)
		return
	}
	select {
	case ms.wake <- struct{}{}:
	default:
	}
	e.delivered.Add(1)
	pc.observe(time.Duration(e.since(at)-r.sentAt[i].Load()), at.Sub(e.start))
	if r.remaining.Add(-1) == 0 {
		r.doneOnce.Do(func() { close(r.done) })
	}
}

func intact(r *run, m *pmsg, msg protocol.Message) bool {
	if msg.Round != m.round || msg.Sender != r.numbers[m.sender] || msg.UUID != r.id {
		return false
	}
	if (m.receiver < 0) != (msg.Receiver == nil) || (msg.Receiver != nil && *msg.Receiver != r.numbers[m.receiver]) {
		return false
	}
	return jsonEqual(msg.Body, m.body)
}
