package replay

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"mpcrelay/relay/protocol"
)

// group is one replayed group: its connections (one per party of the session's group) and the
// session it runs now. A group runs one session at a time.
type group struct {
	e     *engine
	index int // among all groups of the run (segments keep the whole run's numbering)
	plan  *plan
	id    uuid.UUID // relay: the group's uuid; forwarder: the room
	idStr string
	peers []*peer
	ready bool

	mu      sync.Mutex
	current *run
	retired []*run
}

// helloMethod marks the frames with which the connections of a forwarder room find each other.
const helloMethod = "replay.hello"

// awaitRoom returns once every connection of the group has heard every other through the
// forwarder: it adds a connection to its room only after the handshake, so a frame sent at
// once could miss a peer that has just connected. Each sends hello frames until all have
// heard all.
func (g *group) awaitRoom(ctx context.Context) error {
	n := len(g.peers)
	for _, pc := range g.peers {
		pc.heard = make([]atomic.Bool, n)
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		done := true
		for _, pc := range g.peers {
			if int(pc.heardCount.Load()) < n-1 {
				done = false
			}
		}
		if done {
			return nil
		}
		for _, pc := range g.peers {
			params := []byte("[" + strconv.Itoa(pc.index) + "]")
			if err := pc.w.send(appendRequest(nil, 0, helloMethod, params)); err != nil {
				return fmt.Errorf("forwarder room: %w", err)
			}
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("forwarder room: the connections did not all hear each other: %w", ctx.Err())
		}
	}
}

// heardFrom records a hello of connection i.
func (pc *peer) heardFrom(params []byte) {
	n, ok := numbers(params)
	if !ok || len(n) != 1 || int(n[0]) >= len(pc.heard) || int(n[0]) == pc.index {
		pc.g.e.corrupt.Add(1)
		return
	}
	if !pc.heard[n[0]].Swap(true) {
		pc.heardCount.Add(1)
	}
}

// peer is one replayed party's connection. perSecond belongs to its reader (a poller) until
// the connection is closed.
type peer struct {
	g         *group
	index     int // party index in the group
	w         *wire
	perSecond []int64
	// Forwarder only: which other connections of the room this one has heard (awaitRoom).
	heard      []atomic.Bool
	heardCount atomic.Int32
}

var peerSeq atomic.Int64 // spreads recording over the recorder's shards

// connect dials the group's connections — party i on URL i mod k — and, against a relay,
// creates and joins the group (§4.1, §4.2).
func (g *group) connect(ctx context.Context, sem chan struct{}) error {
	n := int(g.plan.params.Parties)
	forwarder := g.e.cfg.Target == TargetForwarder
	urls := g.e.cfg.urls()
	g.id = uuid.New()
	room := ""
	if forwarder {
		room = g.id.String()
	}
	for i := range n {
		pc := &peer{g: g, index: i}
		shard := int(peerSeq.Add(1))
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		w, err := dialWire(ctx, urls[i%len(urls)], room, func(frame []byte, env *envelope, at time.Time) {
			pc.onFrame(frame, env, at, shard)
		})
		<-sem
		if err != nil {
			return err
		}
		pc.w = w
		g.peers = append(g.peers, pc)
		go pc.watch()
	}
	if forwarder {
		if err := g.awaitRoom(ctx); err != nil {
			return err
		}
	}
	if !forwarder {
		id, err := g.peers[0].w.groupCreate(ctx, fmt.Sprintf("replay-%d", g.index), g.plan.params)
		if err != nil {
			return err
		}
		g.id = id
		for _, pc := range g.peers[1:] {
			if err := pc.w.groupJoin(ctx, id); err != nil {
				return err
			}
		}
	}
	g.idStr = g.id.String()
	g.ready = true
	return nil
}

// watch counts a connection that ends before the run closes it.
func (pc *peer) watch() {
	<-pc.w.ended
	if !pc.w.stopping.Load() {
		pc.g.e.disconnects.Add(1)
		pc.g.e.fail(fmt.Sprintf("connection ended: %v", pc.w.err))
	}
}

// close stops the group's connections at once: each may wait closeGrace for a close reply
// that a stalled relay never sends, and one after another that would be a wait per party, past
// the run's bound.
func (g *group) close() {
	var wg sync.WaitGroup
	for _, pc := range g.peers {
		wg.Go(pc.w.stop)
	}
	wg.Wait()
}

func (g *group) lostConnection() bool {
	for _, pc := range g.peers {
		if pc.w.closed() {
			return true
		}
	}
	return false
}

// onFrame handles one frame, on the connection's reader (its poller, or its own goroutine).
func (pc *peer) onFrame(frame []byte, env *envelope, at time.Time, shard int) {
	e := pc.g.e
	if env == nil {
		e.corrupt.Add(1) // not a JSON object: no relay may send that (§1.2)
		return
	}
	if e.cfg.Target == TargetForwarder {
		// The forwarder passes on the Session.message requests of the other parties.
		if string(env.method) == helloMethod {
			pc.heardFrom(env.params)
			return
		}
		obj, ok := messageParams(env.params)
		if string(env.method) != protocol.MethodSessionMessage || !ok {
			e.corrupt.Add(1)
			return
		}
		if !pc.message(obj, at, true, shard) {
			e.corrupt.Add(1)
		}
		return
	}
	if env.isEvent() {
		name, payload, ok := env.event()
		if !ok {
			e.corrupt.Add(1)
			return
		}
		switch string(name) {
		case protocol.EventSessionMessage:
			if !pc.message(payload, at, false, shard) {
				if env.cut {
					// Cut by its layout, but its middle is not one message: judged as
					// any frame is, scanned whole.
					whole, ok := scanEnvelope(frame)
					if !ok {
						pc.onFrame(frame, nil, at, shard)
						return
					}
					pc.onFrame(frame, &whole, at, shard)
					return
				}
				e.corrupt.Add(1)
			}
		case protocol.EventSessionSignup:
			pc.g.signupEvent(pc, payload)
		case protocol.EventSessionClosed:
			pc.g.closedEvent(pc, payload)
		}
		return
	}
	if env.errObj != nil {
		e.relayError(env.errObj) // the answer to a Session.message, or an error without id
	}
}

// message handles a received message object; false when obj does not read as a message (the
// caller counts it corrupt).
func (pc *peer) message(obj []byte, at time.Time, forwarder bool, shard int) bool {
	e := pc.g.e
	m, ok := scanMessage(obj, pc.g.plan.expectBody)
	if !ok {
		return false
	}
	r := pc.g.lookup(m.uuid)
	if r == nil {
		// The blind forwarder's copy of someone else's message may trail its session by more
		// than the sessions a group keeps (a session can take a millisecond there): not for this
		// party — not a member, or addressed to another number (members are 1..k) — is filtered.
		if forwarder && (pc.index >= len(pc.g.plan.s.Members) || (m.receiver >= 0 && m.receiver != pc.index+1)) {
			e.filtered.Add(1)
			return true
		}
		e.misdelivered.Add(1) // a session this group never ran (or closed long ago)
		return true
	}
	if r.deliver(pc, &m, at, forwarder, shard) {
		sec := max(0, int(at.Sub(e.start)/time.Second))
		for len(pc.perSecond) <= sec {
			pc.perSecond = append(pc.perSecond, 0)
		}
		pc.perSecond[sec]++
	}
	return true
}

// lookup finds the run a frame of session id belongs to: the current one or a recently
// closed one (where a second copy is a duplicate and a first one late).
func (g *group) lookup(id []byte) *run {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.current != nil && g.current.idStr == string(id) {
		return g.current
	}
	for _, r := range g.retired {
		if r.idStr == string(id) {
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

// signupEvent: §4.5, the payload is the session's uuid.
func (g *group) signupEvent(pc *peer, payload []byte) {
	sc := scanner{b: payload}
	id, ok := sc.str()
	if !ok || !sc.end() {
		g.e.corrupt.Add(1)
		return
	}
	if r := g.lookup(id); r != nil {
		if j := r.memberOf(pc.index); j >= 0 && !r.signedUp[j].Swap(true) {
			r.signups.tick(pc.w.wakes)
		}
	}
}

// closedEvent: §4.8, the payload names the parties; a group runs one session at a time, so it
// is the current one's.
func (g *group) closedEvent(pc *peer, payload []byte) {
	parties, ok := numbers(payload)
	if !ok {
		g.e.corrupt.Add(1)
		return
	}
	g.mu.Lock()
	r := g.current
	g.mu.Unlock()
	if r == nil {
		return
	}
	if j := r.memberOf(pc.index); j >= 0 && !r.closedSeen[j].Swap(true) {
		r.closedBy[j] = parties
		r.closes.tick(pc.w.wakes)
	}
}

// loop replays the group's session until the deadline (or once without one): the closed loop.
func (g *group) loop(ctx context.Context, deadline time.Time) {
	for {
		if ctx.Err() != nil {
			return
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			return
		}
		if !g.runSession(ctx, -1) || deadline.IsZero() {
			return
		}
	}
}

// dueAt is when session k is due at rate (sessions/s), in nanoseconds after the start. A time
// beyond an int64 saturates (never) rather than wrapping to the past, which would start the
// session at once: MinRate keeps session 1 in range, not a late k (group k's one session of a
// run without Duration is due at k/rate).
func dueAt(k int, rate float64) int64 {
	d := float64(k) / rate * float64(time.Second)
	if !(d < math.MaxInt64) { // also NaN
		return math.MaxInt64
	}
	return int64(d)
}

// openLoop runs the group's share of the schedule: session k is due at k/Rate, on group
// k mod Groups, until Duration (or one session per group without it).
func (g *group) openLoop(ctx context.Context) {
	e := g.e
	end := int64(e.cfg.Duration)
	dueOf := func(k int) int64 { return dueAt(k, e.cfg.Rate) }
	for k := g.index; ; k += e.cfg.Groups {
		due := dueOf(k)
		if (end > 0 && due >= end) || (end == 0 && k > g.index) {
			return
		}
		e.due.Add(1)
		e.dueDeliveries.Add(int64(g.plan.total))
		free := e.since(time.Now()) // the group's previous session is over
		if end > 0 && free >= end {
			// Still busy when the run ends (as wrk2, nothing starts after it): the rest of the
			// group's schedule is offered load the relay did not take.
			e.notStarted.Add(1)
			for k += e.cfg.Groups; dueOf(k) < end; k += e.cfg.Groups {
				e.due.Add(1)
				e.dueDeliveries.Add(int64(g.plan.total))
				e.notStarted.Add(1)
			}
			return
		}
		if sleepUntil(ctx, e.start.Add(time.Duration(due))) != nil {
			return
		}
		lag := time.Duration(e.since(time.Now()) - due)
		e.startLag.Record(g.index, lag)
		if lag > lateAfter {
			e.startedLate.Add(1)
		}
		if !g.runSession(ctx, due) {
			return
		}
	}
}

// runSession replays one session (due: its due time, -1 in the closed loop) and reports
// whether the group can go on.
func (g *group) runSession(ctx context.Context, due int64) bool {
	e := g.e
	e.started.Add(1)
	if err := g.replayOnce(ctx, due); err != nil {
		e.failed.Add(1)
		e.fail(err.Error())
		e.log.Debug("replayed session failed", "group", g.index, "err", err)
		if g.lostConnection() {
			return false
		}
	} else {
		e.completed.Add(1)
	}
	if e.cfg.Progress != nil {
		e.cfg.Progress(int(e.completed.Load() + e.failed.Load()))
	}
	return ctx.Err() == nil
}

// open starts a replayed session. Against a relay: Session.create, every member's
// Session.signup, and the sessionSignup event at each (§4.3, §4.5). Against the forwarder a
// session is only a fresh uuid.
func (g *group) open(ctx context.Context, r *run) error {
	k := len(r.members)
	if g.e.cfg.Target == TargetForwarder {
		r.setID(uuid.New())
		for j := range k {
			r.numbers[j] = uint16(j + 1)
		}
		g.setCurrent(r)
		return nil
	}
	id, err := g.peers[0].w.sessionCreate(ctx, g.idStr, r.plan.kind)
	if err != nil {
		return err
	}
	r.setID(id)
	g.setCurrent(r)
	// Every member's signup is written before any answer is awaited (one wake-up for all).
	a := newAnswers(k)
	for j := range k {
		if err := g.peers[j].w.startSignup(g.idStr, r.idStr, r.plan.kind, a, j); err != nil {
			return err
		}
	}
	if err := a.await(ctx); err != nil {
		return err
	}
	for j := range k {
		res, err := a.result(j)
		if err != nil {
			return err
		}
		if r.numbers[j], err = signupNumber(res); err != nil {
			return err
		}
	}
	return r.awaitEvent(ctx, &r.signups, r.signedUp, protocol.EventSessionSignup)
}

// awaitEvent waits until every member has had event (c done, seen[j] set as each came); on
// giving up it names the first member still waiting.
func (r *run) awaitEvent(ctx context.Context, c *countdown, seen []atomic.Bool, event string) error {
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		for j := range seen {
			if !seen[j].Load() {
				return fmt.Errorf("party %d: waiting for %s: %w", r.numbers[j], event, ctx.Err())
			}
		}
		return ctx.Err()
	}
}

// closeSession finishes a completed session: every member's Session.finish and the
// sessionClosed event, naming every party, at each (§4.8). The forwarder has nothing to close.
func (g *group) closeSession(ctx context.Context, r *run) error {
	if g.e.cfg.Target == TargetForwarder {
		return nil
	}
	k := len(r.members)
	a := newAnswers(k)
	for j := range k {
		if err := g.peers[j].w.startFinish(g.idStr, r.idStr, r.numbers[j], a, j); err != nil {
			return err
		}
	}
	if err := a.await(ctx); err != nil {
		return err
	}
	for j := range k {
		if _, err := a.result(j); err != nil {
			return err
		}
	}
	if err := r.awaitEvent(ctx, &r.closes, r.closedSeen, protocol.EventSessionClosed); err != nil {
		return err
	}
	want := slices.Clone(r.numbers)
	slices.Sort(want)
	for j := range k {
		if got := r.closedBy[j]; !slices.Equal(got, want) {
			return fmt.Errorf("party %d: sessionClosed named %v, want %v (§4.8)", r.numbers[j], got, want)
		}
	}
	return nil
}
