package run

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"mpcrelay/client"
	"mpcrelay/relay/protocol"
	"mpcrelay/scenarios/report"
	"mpcrelay/scenarios/spec"
	"mpcrelay/scenarios/trace"
	"mpcrelay/simparty"
)

// BenchOptions configure Bench.
type BenchOptions struct {
	Scenario *spec.Scenario
	URL      string // relay to bench; "" starts the embedded reference relay
	// URLs, when more than one, are the nodes of a clustered relay: party i of every group
	// connects to URLs[i mod len(URLs)] (URL is URLs[0]).
	URLs   []string
	Record *trace.Writer // when set, every session's Session.message traffic is written here
	// RecordBodies writes each message's body into the trace as well as its size.
	RecordBodies bool
	// Progress, when set, is called after every keygen or signing.
	Progress func(done Op)
	Logger   *slog.Logger
}

// Op is one finished keygen or signing.
type Op struct {
	Kind     protocol.SessionKind
	Group    int
	OK       bool
	Err      error
	Started  time.Time
	Duration time.Duration
}

// BenchResults is results.json of a bench run.
type BenchResults struct {
	Kind        string         `json:"kind"` // "bench"
	Scenario    *spec.Scenario `json:"scenario"`
	Target      string         `json:"target"`
	Started     time.Time      `json:"started"`
	DurationSec float64        `json:"duration_s"`
	Machine     report.Machine `json:"machine"`

	Keygens  Counts `json:"keygens"`
	Signings Counts `json:"signings"`

	// Latency per phase, over every party of every session: join → signup event (from the start
	// of the keygen or signing to the party's sessionSignup/sessionLoad), protocol rounds (from
	// that event to tss-lib's result), finish → sessionClosed (Session.finish to the event), and
	// whole keygens and signings.
	Latency map[string]report.Latency `json:"latency"`

	// KeygensPerSec is over the whole run; SignaturesPerSec is verified signatures over the
	// signing phase (first signing's start to last signing's end).
	KeygensPerSec    float64 `json:"keygens_per_s"`
	SignaturesPerSec float64 `json:"signatures_per_s"`
	// SignaturesPerSecond is the count of verified signatures finished in each second of the run.
	SignaturesPerSecond []int64 `json:"signatures_per_second"`
	KeygensPerSecond    []int64 `json:"keygens_per_second"`

	Traffic Traffic `json:"relay_traffic"`

	// RelayRestarts lists when the embedded relay was restarted (seconds into the run), and
	// SucceededAfterRestart counts operations that started after the last restart and succeeded.
	RelayRestarts         []float64 `json:"relay_restarts,omitempty"`
	SucceededAfterRestart int64     `json:"succeeded_after_restart,omitempty"`
	// Missing are the parties the failures named (waited for, dropped, or never signed up).
	Missing []uint16 `json:"missing,omitempty"`
	Passed  bool     `json:"passed"`
	Verdict string   `json:"verdict"`

	latencyHist map[string]report.Histogram
}

// Counts of one kind of operation.
type Counts struct {
	Attempted int64            `json:"attempted"`
	Succeeded int64            `json:"succeeded"`
	Failed    int64            `json:"failed"`
	Reasons   map[string]int64 `json:"failure_reasons,omitempty"`
	// Verified counts signatures that verified against the group key (signings only).
	Verified int64 `json:"verified,omitempty"`
	// Interrupted counts failures while the relay restarted (relay-restart faults).
	Interrupted int64 `json:"interrupted_by_restart,omitempty"`
}

// Traffic is what the parties exchanged with the relay, counted at the clients.
type Traffic struct {
	FramesSent     int64 `json:"frames_sent"`
	FramesReceived int64 `json:"frames_received"`
	BytesSent      int64 `json:"bytes_sent"`
	BytesReceived  int64 `json:"bytes_received"`
	// Session.message traffic (§4.7), split by addressing.
	BroadcastMessages int64 `json:"broadcast_messages"`
	BroadcastBytes    int64 `json:"broadcast_body_bytes"`
	P2PMessages       int64 `json:"p2p_messages"`
	P2PBytes          int64 `json:"p2p_body_bytes"`
}

// Phases of the latency table.
const (
	PhaseJoin   = "join_to_signup_event"
	PhaseRounds = "protocol_rounds"
	PhaseFinish = "finish_to_session_closed"
	PhaseKeygen = "keygen_total"
	PhaseSign   = "signing_total"
)

// opContext is ctx without its deadline but with its cancellation: client.WithCallTimeout
// bounds only calls whose context has no deadline, and every call of a bench must be bounded
// by the scenario's timeout, not by how long the caller is prepared to wait for the whole run.
func opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	op, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	return op, func() { stop(); cancel() }
}

// bench is one run in progress.
type bench struct {
	o     BenchOptions
	s     *spec.Scenario
	curve simparty.Curve
	url   string
	urls  []string
	// relayUp returns once no restart of the embedded relay is under way (nil: no restarts).
	relayUp func()
	start   time.Time
	log     *slog.Logger

	framesSent, framesRecv, bytesSent, bytesRecv atomic.Int64

	mu           sync.Mutex
	samples      map[string][]time.Duration
	keygens      Counts
	signings     Counts
	traffic      Traffic
	sigSecs      []int64
	kgSecs       []int64
	missing      map[uint16]bool
	restarts     []time.Time
	afterRestart int64 // successful operations started after the last restart

	firstSignStart, lastSignEnd time.Time // the signing phase, for signatures/s
	sessionN                    atomic.Int64
}

// Bench runs a bench scenario with real tss-lib parties (package simparty).
func Bench(ctx context.Context, o BenchOptions) (*BenchResults, error) {
	s := o.Scenario
	if s == nil || s.Mode != spec.ModeBench {
		return nil, errors.New("bench: needs a bench-mode scenario")
	}
	curve, err := simparty.ParseCurve(s.Curve)
	if err != nil {
		return nil, err
	}
	b := &bench{o: o, s: s, curve: curve, log: o.Logger, samples: map[string][]time.Duration{}, missing: map[uint16]bool{},
		keygens: Counts{Reasons: map[string]int64{}}, signings: Counts{Reasons: map[string]int64{}}}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	res := &BenchResults{Kind: "bench", Scenario: s, Target: o.URL, Started: time.Now().UTC(), Machine: report.ThisMachine()}

	url := o.URL
	var restart func(context.Context) error
	if url == "" {
		emb, err := startEmbedded(ctx, b.log)
		if err != nil {
			return nil, err
		}
		defer emb.shutdown()
		url, restart = emb.url(), emb.restart
		b.relayUp = emb.up
		res.Target = EmbeddedTarget
	}
	if rules := append(proxyRules(s.ProxyFaults(), 1), b.neverSignupRules()...); len(rules) > 0 {
		p, err := startProxy(url, b.log, rules)
		if err != nil {
			return nil, err
		}
		defer p.Close()
		url = p.URL()
	}
	b.url = url
	if len(o.URLs) > 1 && url == o.URL { // through a proxy, every party goes to the one proxy
		b.urls = o.URLs
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, f := range s.FaultsOf(spec.FaultRelayRestart) {
		if restart == nil {
			return nil, errors.New("bench: a relay-restart fault needs the embedded relay (no --url)")
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.restartAfter(runCtx, f.After.D(), restart)
		}()
	}
	b.start = time.Now()
	var groups sync.WaitGroup
	for g := range s.Groups {
		groups.Add(1)
		go func() {
			defer groups.Done()
			b.group(runCtx, g)
		}()
	}
	groups.Wait()
	cancel()
	wg.Wait()
	b.fill(res, time.Since(b.start))
	return res, nil
}

// restartAfter shuts the embedded relay down and starts it again on the same address.
func (b *bench) restartAfter(ctx context.Context, after time.Duration, restart func(context.Context) error) {
	t := time.NewTimer(after)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	b.mu.Lock()
	b.restarts = append(b.restarts, time.Now())
	b.mu.Unlock()
	if err := restart(ctx); err != nil {
		b.log.Error("relay restart failed", "err", err)
	}
}

// group runs one group's keygens and signings, one after another.
func (b *bench) group(ctx context.Context, g int) {
	s := b.s
	var shares []*simparty.Share
	for k := range s.Keygens {
		// A keygen the relay restart interrupted is run again (a few times at most): the
		// group needs a key for its signings.
		for attempt := 0; attempt < maxRestartRetries; attempt++ {
			got, err, interrupted := b.keygen(ctx, g, k)
			if err == nil && shares == nil {
				shares = got
			}
			if ctx.Err() != nil {
				return
			}
			if !interrupted {
				break
			}
			// Tried again at once, the keygen would fail on the relay that is still coming
			// back, and every retry with it.
			if b.relayUp != nil {
				b.relayUp()
			}
		}
	}
	if shares == nil {
		return // no key to sign with; the keygen failures say why
	}
	signers := b.signers(shares)
	// The duration is signing time: it starts when the group has its key.
	deadline := time.Time{}
	if s.Duration > 0 {
		deadline = time.Now().Add(s.Duration.D())
	}
	for i := 0; ; i++ {
		if deadline.IsZero() && i >= s.Signings {
			return
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			return
		}
		interrupted := b.sign(ctx, g, i, signers)
		if ctx.Err() != nil {
			return
		}
		if interrupted && b.relayUp != nil {
			b.relayUp() // not a burst of signings failing on a relay that is still down
		}
	}
}

// signers picks the t+1 shares that sign: the first t+1, or, when a party-side sign fault names
// a party outside them, that party in place of the last.
func (b *bench) signers(shares []*simparty.Share) []*simparty.Share {
	out := slices.Clone(shares[:b.s.SignParties()])
	for _, f := range b.s.FaultsOf(spec.FaultDisconnect, spec.FaultNeverSignup) {
		if f.Phase != spec.PhaseSign || b.s.Join != spec.JoinLoad || f.Party <= len(out) {
			continue
		}
		out[len(out)-1] = shares[f.Party-1]
	}
	return out
}

func (b *bench) drop(phase string) *simparty.Drop {
	for _, f := range b.s.FaultsOf(spec.FaultDisconnect) {
		if f.Phase == phase {
			return &simparty.Drop{Party: uint16(f.Party), AfterRound: f.Round - 1}
		}
	}
	return nil
}

// clientOptions count every frame, and bound every call by the scenario's timeout: a request
// the relay never answers (a never-signup fault drops it) then fails within the bound.
func (b *bench) clientOptions() []client.Option {
	return []client.Option{client.WithCallTimeout(b.s.Timeout.D()), client.WithFrameHook(func(f client.Frame) {
		if f.Dir == client.Sent {
			b.framesSent.Add(1)
			b.bytesSent.Add(int64(len(f.Data)))
		} else {
			b.framesRecv.Add(1)
			b.bytesRecv.Add(int64(len(f.Data)))
		}
	})}
}

// maxRestartRetries bounds how often an operation interrupted by a relay restart is retried.
const maxRestartRetries = 3

func (b *bench) keygen(ctx context.Context, g, k int) (shares []*simparty.Share, err error, interrupted bool) {
	rec := b.newRecorder(protocol.KindKeygen, g, k)
	for p := range b.s.Parties {
		rec.expected = append(rec.expected, uint16(p+1))
	}
	cfg := simparty.KeygenConfig{URL: b.url, URLs: b.urls, Curve: b.curve, Threshold: b.s.Threshold, Parties: b.s.Parties,
		Timeout: b.s.Timeout.D(), Progress: rec.progress, Label: fmt.Sprintf("bench %s g%d k%d", b.s.Name, g, k),
		Drop: b.drop(spec.PhaseKeygen), PoolOffset: (g + k) * b.s.Parties, ClientOptions: b.clientOptions()}
	start := time.Now()
	ctx, cancel := opContext(ctx)
	defer cancel()
	shares, err = simparty.Keygen(ctx, cfg)
	interrupted = b.finishOp(rec, Op{Kind: protocol.KindKeygen, Group: g, OK: err == nil, Err: err, Started: start, Duration: time.Since(start)}, false)
	return shares, err, interrupted
}

func (b *bench) sign(ctx context.Context, g, i int, signers []*simparty.Share) (interrupted bool) {
	rec := b.newRecorder(protocol.KindSign, g, i)
	for j, sh := range signers {
		if b.s.Join == spec.JoinLoad {
			rec.expected = append(rec.expected, sh.PartyNumber)
		} else {
			rec.expected = append(rec.expected, uint16(j+1))
		}
	}
	digest := sha256.Sum256(fmt.Appendf(nil, "mpcrelay bench %s group %d signing %d", b.s.Name, g, i))
	mode := simparty.ModeSignup
	if b.s.Join == spec.JoinLoad {
		mode = simparty.ModeLoad
	}
	cfg := simparty.SignConfig{URL: b.url, URLs: b.urls, Shares: signers, Message: digest[:], Mode: mode, Timeout: b.s.Timeout.D(),
		Progress: rec.progress, Label: fmt.Sprintf("bench %s g%d s%d", b.s.Name, g, i),
		Drop: b.drop(spec.PhaseSign), ClientOptions: b.clientOptions()}
	start := time.Now()
	ctx, cancel := opContext(ctx)
	defer cancel()
	sig, err := simparty.Sign(ctx, cfg)
	verified := err == nil && sig != nil && sig.Verified && simparty.Verify(sig) == nil
	if err == nil && !verified {
		err = errors.New("signature did not verify")
	}
	return b.finishOp(rec, Op{Kind: protocol.KindSign, Group: g, OK: err == nil, Err: err, Started: start, Duration: time.Since(start)}, verified)
}

// finishOp books a finished operation: counts, latencies, the missing parties, the trace. It
// reports whether a failure is put down to a relay restart.
func (b *bench) finishOp(rec *recorder, op Op, verified bool) (interrupted bool) {
	phases, messages := rec.close(op.Started)
	b.mu.Lock()
	c := &b.keygens
	total, secs := PhaseKeygen, &b.kgSecs
	if op.Kind == protocol.KindSign {
		c, total, secs = &b.signings, PhaseSign, &b.sigSecs
	}
	c.Attempted++
	if op.Kind == protocol.KindSign {
		if b.firstSignStart.IsZero() || op.Started.Before(b.firstSignStart) {
			b.firstSignStart = op.Started
		}
		b.lastSignEnd = op.Started.Add(op.Duration)
	}
	if op.OK {
		c.Succeeded++
		if n := len(b.restarts); n > 0 && op.Started.After(b.restarts[n-1]) {
			b.afterRestart++
		}
		if verified {
			c.Verified++
		}
		b.samples[total] = append(b.samples[total], op.Duration)
		sec := int(time.Since(b.start) / time.Second)
		for len(*secs) <= sec {
			*secs = append(*secs, 0)
		}
		(*secs)[sec]++
	} else {
		c.Failed++
		c.Reasons[reason(op.Err)]++
		if b.interruptedByRestart(time.Now()) {
			c.Interrupted++
			interrupted = true
		} else {
			// What an interrupted session misses is the restart, not its parties.
			for _, p := range missingParties(op.Err) {
				b.missing[p] = true
			}
			for _, p := range rec.neverSignedUp(rec.expected) {
				b.missing[p] = true
			}
		}
	}
	for name, d := range phases {
		b.samples[name] = append(b.samples[name], d...)
	}
	for _, m := range messages {
		if m.receiver == nil {
			b.traffic.BroadcastMessages++
			b.traffic.BroadcastBytes += int64(m.size)
		} else {
			b.traffic.P2PMessages++
			b.traffic.P2PBytes += int64(m.size)
		}
	}
	b.mu.Unlock()
	if b.o.Record != nil && op.OK { // a trace holds the shape of sessions that completed
		if err := rec.write(b.o.Record); err != nil {
			b.log.Error("record trace", "err", err)
		}
	}
	if op.Err != nil {
		b.log.Debug("operation failed", "kind", op.Kind, "group", op.Group, "err", op.Err)
	}
	if b.o.Progress != nil {
		b.o.Progress(op)
	}
	return interrupted
}

// interruptedByRestart: a failure within the session timeout after a relay restart is put down
// to the restart. Caller holds b.mu.
func (b *bench) interruptedByRestart(at time.Time) bool {
	for _, r := range b.restarts {
		if !at.Before(r) && at.Sub(r) <= b.s.Timeout.D()+5*time.Second {
			return true
		}
	}
	return false
}

func (b *bench) fill(res *BenchResults, elapsed time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	res.DurationSec = elapsed.Seconds()
	res.Keygens, res.Signings = b.keygens, b.signings
	res.Latency = map[string]report.Latency{}
	res.latencyHist = map[string]report.Histogram{}
	for name, s := range b.samples {
		res.latencyHist[name] = report.NewHistogram(s)
		res.Latency[name] = report.Summarize(s)
	}
	if elapsed > 0 {
		res.KeygensPerSec = float64(b.keygens.Succeeded) / elapsed.Seconds()
	}
	res.SignaturesPerSec = b.signatureRate()
	res.SignaturesPerSecond, res.KeygensPerSecond = b.sigSecs, b.kgSecs
	res.Traffic = b.traffic
	res.Traffic.FramesSent, res.Traffic.FramesReceived = b.framesSent.Load(), b.framesRecv.Load()
	res.Traffic.BytesSent, res.Traffic.BytesReceived = b.bytesSent.Load(), b.bytesRecv.Load()
	for _, r := range b.restarts {
		res.RelayRestarts = append(res.RelayRestarts, r.Sub(b.start).Seconds())
	}
	res.SucceededAfterRestart = b.afterRestart
	for p := range b.missing {
		res.Missing = append(res.Missing, p)
	}
	slices.Sort(res.Missing)
	res.Passed, res.Verdict = benchVerdict(b.s, res, elapsed)
}

// signatureRate is verified signatures per second of the signing phase: from the first
// signing's start to the last one's end (the keygens before are not signing time).
func (b *bench) signatureRate() float64 {
	window := b.lastSignEnd.Sub(b.firstSignStart)
	if b.signings.Verified == 0 || window <= 0 {
		return 0
	}
	return float64(b.signings.Verified) / window.Seconds()
}

// benchVerdict checks the scenario's expected outcome.
func benchVerdict(s *spec.Scenario, res *BenchResults, elapsed time.Duration) (bool, string) {
	k, g := res.Keygens, res.Signings
	switch s.Expect.Outcome {
	case spec.OutcomeVerified:
		failed := (k.Failed - k.Interrupted) + (g.Failed - g.Interrupted)
		if failed > 0 || k.Succeeded == 0 || g.Verified != g.Succeeded {
			return false, fmt.Sprintf("expected every keygen and signing to succeed and verify: keygens %d/%d, signings %d/%d (verified %d), failures %v %v",
				k.Succeeded, k.Attempted, g.Succeeded, g.Attempted, g.Verified, k.Reasons, g.Reasons)
		}
		if s.Signings > 0 && g.Attempted < int64(s.Signings*s.Groups) {
			return false, fmt.Sprintf("only %d of %d signings ran", g.Attempted, s.Signings*s.Groups)
		}
		if s.Duration > 0 && g.Verified == 0 {
			return false, fmt.Sprintf("no signing finished within the %s of the run", s.Duration)
		}
		if len(res.RelayRestarts) > 0 && res.SucceededAfterRestart == 0 {
			return false, "nothing succeeded after the relay restart"
		}
		v := fmt.Sprintf("%d keygens and %d signings succeeded, every signature verified", k.Succeeded, g.Verified)
		if k.Interrupted+g.Interrupted > 0 {
			v += fmt.Sprintf(" (%d interrupted by the relay restart)", k.Interrupted+g.Interrupted)
		}
		return true, v
	case spec.OutcomeFailure:
		want := make([]uint16, len(s.Expect.Missing))
		for i, p := range s.Expect.Missing {
			want[i] = uint16(p)
		}
		slices.Sort(want)
		if k.Failed+g.Failed == 0 {
			return false, "expected a failure, but every operation succeeded"
		}
		if elapsed > s.Expect.Within.D() {
			return false, fmt.Sprintf("the failure was not bounded: the run took %.1f s, the bound is %s", elapsed.Seconds(), s.Expect.Within)
		}
		if !slices.Equal(res.Missing, want) {
			return false, fmt.Sprintf("expected the failure to name parties %v missing, it named %v (%v %v)", want, res.Missing, k.Reasons, g.Reasons)
		}
		return true, fmt.Sprintf("failed cleanly in %.1f s (bound %s), naming parties %v missing", elapsed.Seconds(), s.Expect.Within, res.Missing)
	}
	return false, "unknown expected outcome " + s.Expect.Outcome
}
