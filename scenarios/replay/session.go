package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/google/uuid"
)

// run is one replayed session.
type run struct {
	g       *group
	plan    *plan
	id      uuid.UUID
	idStr   string
	numbers []uint16 // member → party number in this session
	// due[i] is when message i was due, sentAt[i] when it was sent (engine clock). In the
	// closed loop a message is due when it is sent.
	due, sentAt []atomic.Int64
	members     []*memberState
	signedUp    []atomic.Bool // the member's sessionSignup came
	signups     countdown     // done when every member's has
	closedSeen  []atomic.Bool // the member's sessionClosed came,
	closedBy    [][]uint16    // naming these parties
	closes      countdown     // done when every member's has
	readyAt     atomic.Int64  // when the set-up was done (engine clock)

	// wake is signalled when a member the driver waits for has its inputs (closed loop) and a
	// poller could not send its messages itself.
	wake chan struct{}
	// The closed loop's messages go as soon as their inputs are in: written by the poller that
	// brought the last input (step), or by the driver where a poller must not wait. stepMu
	// orders the two; driving is set while the driver is in the message phase (pollers send
	// only then); next is, per member, its first message not yet sent (index into sends);
	// stalled, a poller's write the socket took only part of, for the driver to finish;
	// sendErr, a poller's failed write, for the driver to report.
	stepMu  sync.Mutex
	driving bool
	next    []int
	stalled *stalledWrite
	sendErr error
	// frames and bufs are the batch being written (step's, under stepMu, or the open loop's
	// driver's), kept so that a batch does not allocate them again.
	frames [][]byte
	bufs   []*[]byte

	remaining atomic.Int64
	failed    atomic.Bool
	done      chan struct{}
	doneOnce  sync.Once
}

func (r *run) setID(id uuid.UUID) { r.id, r.idStr = id, id.String() }

// memberOf is the member a connection of the group is, -1 when it is not a party: the members
// are the group's first k connections.
func (r *run) memberOf(conn int) int {
	if conn < len(r.members) {
		return conn
	}
	return -1
}

// memberState tracks what one member has received; its sender waits on it.
type memberState struct {
	mu     sync.Mutex
	got    []uint8 // per expected delivery: times received
	prefix int     // deliveries 0..prefix-1 have all arrived
	// waitFor is the prefix the session's driver waits for (0: it is not waiting); the reader
	// wakes it only when that is reached, not at every delivery.
	waitFor int
}

// ready reports whether the first need deliveries have arrived; if not, the driver will be
// woken when they have.
func (m *memberState) ready(need int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.prefix >= need {
		m.waitFor = 0
		return true
	}
	m.waitFor = need
	return false
}

// replayOnce runs one session: set-up (relay only), messages, finish (relay only). due is the
// session's due time in the open loop, -1 in the closed loop.
func (g *group) replayOnce(ctx context.Context, due int64) error {
	p := g.plan
	k := len(p.s.Members)
	r := &run{g: g, plan: p, numbers: make([]uint16, k), due: make([]atomic.Int64, len(p.msgs)),
		sentAt: make([]atomic.Int64, len(p.msgs)), members: make([]*memberState, k),
		signedUp:   make([]atomic.Bool, k),
		closedSeen: make([]atomic.Bool, k), closedBy: make([][]uint16, k), done: make(chan struct{}),
		wake: make(chan struct{}, 1)}
	r.signups.init(k)
	r.closes.init(k)
	for j := range k {
		r.members[j] = &memberState{got: make([]uint8, p.slots[j])}
	}
	span := time.Duration(0)
	if due >= 0 {
		for i := range p.msgs {
			off := time.Duration(float64(p.s.Messages[i].Offset()) * g.e.scale)
			r.due[i].Store(due + int64(off))
			span = max(span, off)
		}
	}
	r.remaining.Store(int64(p.total))
	g.e.expected.Add(int64(p.total))

	// The bound of the messages: the session timeout, plus the schedule's span in the open loop.
	sctx, cancel := context.WithTimeout(ctx, g.e.cfg.SessionTimeout+span)
	defer cancel()
	if err := g.open(sctx, r); err != nil {
		// Nothing was sent: these deliveries were never expected.
		r.failed.Store(true)
		g.setCurrent(nil)
		g.e.expected.Add(-int64(p.total))
		return fmt.Errorf("session %s: %w", p.s.ID, err)
	}
	r.readyAt.Store(g.e.since(time.Now()))
	err := r.drive(sctx, due >= 0)
	if err != nil {
		cancel()
		err = fmt.Errorf("session %s: send: %w", p.s.ID, err)
	} else {
		select {
		case <-r.done:
		case <-sctx.Done():
			err = fmt.Errorf("session %s: %w with %d of %d deliveries missing", p.s.ID, sctx.Err(), r.remaining.Load(), p.total)
		}
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
	if err := g.closeSession(fctx, r); err != nil {
		return fmt.Errorf("session %s: %w", p.s.ID, err)
	}
	return nil
}

// maxBatch bounds the frames of one party written together.
const maxBatch = 64

// drive sends every member's messages: in the closed loop each once its sender has its inputs
// (step: the first round from here, the rest mostly from the pollers that bring the inputs,
// this goroutine sending only what a poller could not without waiting), in the open loop each
// at its due time, answered or not, from here. A member's messages that can go at the same
// moment (inputs all in, or all due) go in one write. One goroutine for all the members (not
// one each), and no goroutine started per session.
func (r *run) drive(ctx context.Context, open bool) error {
	e := r.g.e
	k := len(r.members)
	r.next = make([]int, k)
	if !open {
		r.stepMu.Lock()
		r.driving = true
		r.stepMu.Unlock()
		defer r.stopDriving()
		for {
			left, err := r.step(false)
			if err != nil || !left {
				return err
			}
			select {
			case <-r.wake:
			case <-r.done: // the pollers sent the rest, and every delivery came
				return nil
			case <-ctx.Done():
				return nil // the session's timeout reports it
			}
		}
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	var lastWriteEnd int64
	for {
		left, cut := false, false
		var wait time.Duration // until the earliest due message
		now := e.since(time.Now())
		for j := range k {
			sends := r.plan.sends[j]
			first := r.next[j]
			end := first
			for end < len(sends) && end-first < maxBatch {
				if d := time.Duration(r.due[sends[end]].Load() - now); d > 0 {
					if wait == 0 || d < wait {
						wait = d
					}
					break
				}
				end++
			}
			if end < len(sends) {
				left = true
				cut = cut || end-first == maxBatch
			}
			if end == first {
				continue
			}
			for _, i := range sends[first:end] {
				// The generator's own lag: only where nothing else held the message back (the
				// set-up and the group's previous write were done before it was due).
				if due := r.due[i].Load(); r.readyAt.Load() <= due && lastWriteEnd <= due {
					e.sendLag.Record(r.g.index, time.Duration(now-due))
				}
			}
			r.batch(j, first, end, now, false)
			err := r.g.peers[j].w.write(r.frames...)
			lastWriteEnd = e.since(time.Now())
			now = lastWriteEnd
			r.sent(j, end, r.bufs, err)
			if err != nil {
				return err
			}
		}
		if !left {
			return nil
		}
		if cut {
			continue // a member had more than one batch ready
		}
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		select {
		case <-timer.C:
		case <-ctx.Done():
			return nil // the session's bound reports it
		}
	}
}

// stalledWrite is a member's batch that a poller began to write and the socket took only
// part of; the connection's write lock is still held (tryWrite).
type stalledWrite struct {
	member, end int
	w           *wire
	frames      [][]byte
	bufs        []*[]byte
	at          writePos
}

// errHandOff: a poller cannot send without waiting; the driver sends instead.
var errHandOff = errors.New("hand off to the driver")

// pollerStalls counts the pollers' writes left to a driver to finish (for tests).
var pollerStalls atomic.Int64

// step sends, in the closed loop, every member's messages whose inputs are all in, a member's
// messages that can go together in one write; left reports whether messages remain unsent.
// On a poller (onPoller) it never waits on a socket: where it would, it leaves the rest to the
// driver (errHandOff). One goroutine per session is then woken once for its set-up, once for
// its messages and once for its finish, instead of once more for every member's every round.
func (r *run) step(onPoller bool) (left bool, err error) {
	r.stepMu.Lock()
	defer r.stepMu.Unlock()
	if onPoller && !r.driving {
		return false, nil // the message phase is over (or failed): nothing more goes
	}
	if r.sendErr != nil {
		return false, r.sendErr
	}
	if st := r.stalled; st != nil {
		if onPoller {
			return true, errHandOff
		}
		r.stalled = nil
		err := st.w.finishWrite(st.frames, &st.at)
		r.sent(st.member, st.end, st.bufs, err)
		if err != nil {
			return false, err
		}
	}
	for more := true; more; {
		more, left = false, false
		for j := range r.members {
			sends := r.plan.sends[j]
			first := r.next[j]
			end := first
			for end < len(sends) && end-first < maxBatch && r.members[j].ready(r.plan.msgs[sends[end]].need) {
				end++
			}
			if end < len(sends) {
				left = true
				more = more || end-first == maxBatch
			}
			if end == first {
				continue
			}
			w := r.g.peers[j].w
			r.batch(j, first, end, r.g.e.since(time.Now()), true)
			frames, bufs := r.frames, r.bufs
			if !onPoller {
				err := w.write(frames...)
				r.sent(j, end, bufs, err)
				if err != nil {
					return false, err
				}
				continue
			}
			at := writePos{}
			ok, err := w.tryWrite(frames, &at)
			switch {
			case !ok:
				r.release(bufs)
				return true, errHandOff
			case err == errWouldBlock:
				pollerStalls.Add(1)
				r.stalled = &stalledWrite{member: j, end: end, w: w, frames: slices.Clone(frames), bufs: slices.Clone(bufs), at: at}
				return true, errHandOff
			}
			r.sent(j, end, bufs, err)
			if err != nil {
				r.sendErr = err
				return false, err
			}
		}
	}
	return left, nil
}

// stopDriving ends the message phase: no poller sends after it, and a write a poller left
// stalled is finished (the connection's write lock is held until then, and the group's next
// sessions write on it).
func (r *run) stopDriving() {
	r.stepMu.Lock()
	defer r.stepMu.Unlock()
	r.driving = false
	if st := r.stalled; st != nil {
		r.stalled = nil
		r.sent(st.member, st.end, st.bufs, st.w.finishWrite(st.frames, &st.at))
	}
}

// batch puts together in r.frames (buffers in r.bufs) member j's messages first..end-1
// (indexes into its sends), sent at now (engine clock) — and due then too in the closed loop,
// where a message is due when it can go.
func (r *run) batch(j, first, end int, now int64, closed bool) {
	frames, bufs := r.frames[:0], r.bufs[:0]
	w := r.g.peers[j].w
	for _, i := range r.plan.sends[j][first:end] {
		m := &r.plan.msgs[i]
		receiver := -1
		if m.receiver >= 0 {
			receiver = int(r.numbers[m.receiver])
		}
		bp := outBufs.Get().(*[]byte)
		b := r.plan.appendFrame(beginFrame(*bp), i, w.nextID.Add(1), r.g.idStr, r.idStr, r.numbers[j], receiver)
		*bp = b
		bufs = append(bufs, bp)
		frames = append(frames, sealFrame(b, ws.OpText))
		r.sentAt[i].Store(now)
		if closed {
			r.due[i].Store(now)
		}
	}
	r.frames, r.bufs = frames, bufs
}

// sent books member j's batch up to end as written (err nil) and returns its buffers.
func (r *run) sent(j, end int, bufs []*[]byte, err error) {
	if err == nil {
		e := r.g.e
		n := 0
		for _, i := range r.plan.sends[j][r.next[j]:end] {
			if r.plan.msgs[i].receiver >= 0 {
				e.p2p.Add(1)
			} else {
				e.bcast.Add(1)
			}
		}
		for _, bp := range bufs {
			n += len(*bp) - headroom
		}
		e.framesSent.Add(int64(end - r.next[j]))
		e.bytesSent.Add(int64(n))
		r.next[j] = end
	}
	r.release(bufs)
}

func (r *run) release(bufs []*[]byte) {
	for _, bp := range bufs {
		putOut(bp, *bp)
	}
}

// deliver checks one received Session.message against the plan (§4.7: exactly the addressed
// parties, once, with round, sender, receiver, uuid and body unchanged) and reports whether it
// counted as a delivery.
func (r *run) deliver(pc *peer, msg *wireMessage, at time.Time, forwarder bool, shard int) bool {
	e := r.g.e
	j := r.memberOf(pc.index)
	i, ok := bodyIndex(msg.body)
	if !ok || i < 0 || i >= len(r.plan.msgs) {
		e.corrupt.Add(1)
		return false
	}
	m := &r.plan.msgs[i]
	if forwarder && (j < 0 || (msg.receiver >= 0 && msg.receiver != int(r.numbers[j]))) {
		e.filtered.Add(1) // the blind forwarder's copy of someone else's message
		return false
	}
	if j < 0 || m.slot[j] < 0 {
		e.misdelivered.Add(1)
		return false
	}
	if !intact(r, m, msg) {
		e.corrupt.Add(1)
		return false
	}
	ms := r.members[j]
	s := m.slot[j]
	ms.mu.Lock()
	ms.got[s]++
	first := ms.got[s] == 1
	wake := false
	if first {
		for ms.prefix < len(ms.got) && ms.got[ms.prefix] > 0 {
			ms.prefix++
		}
		wake = ms.waitFor > 0 && ms.prefix >= ms.waitFor
	}
	ms.mu.Unlock()
	if !first {
		e.duplicated.Add(1)
		return false
	}
	if r.failed.Load() {
		// Arrived after its session's bound: late, and no longer lost (the failing session
		// booked every missing delivery as lost).
		e.late.Add(1)
		e.lost.Add(-1)
		return false
	}
	if wake {
		pc.w.wakes.step(r)
	}
	e.delivered.Add(1)
	now := e.since(at)
	e.latency.Record(shard, time.Duration(now-r.due[i].Load()))
	if e.cfg.Rate > 0 {
		// In the closed loop a message is due when it is sent: the two are the same histogram.
		e.uncorrected.Record(shard, time.Duration(now-r.sentAt[i].Load()))
	}
	if r.remaining.Add(-1) == 0 {
		r.doneOnce.Do(func() { pc.w.wakes.close(r.done) })
	}
	return true
}

// intact: the fields are the ones sent, and so is the body — byte for byte when the scanner
// matched it, else as equal JSON (a relay may re-encode it).
func intact(r *run, m *pmsg, msg *wireMessage) bool {
	if msg.round != m.round || msg.sender != r.numbers[m.sender] || string(msg.uuid) != r.idStr {
		return false
	}
	if (m.receiver < 0) != (msg.receiver < 0) || (msg.receiver >= 0 && msg.receiver != int(r.numbers[m.receiver])) {
		return false
	}
	if !msg.slowBody {
		return true
	}
	return jsonEqual(msg.body, m.body)
}

func jsonEqual(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var ca, cb bytes.Buffer
	return json.Compact(&ca, a) == nil && json.Compact(&cb, b) == nil && bytes.Equal(ca.Bytes(), cb.Bytes())
}
