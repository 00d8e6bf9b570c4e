package explore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"mpcrelay/conformance/model"
)

// trial runs some steps of a run against the relay with fresh connections and a fresh model.
type trial struct {
	urls       []string // the relay's nodes: connections are dialled on them in turn
	timeout    time.Duration
	quiet      time.Duration
	m          *model.Model
	inbox      chan arrival
	slots      map[int]*wsConn
	generation map[int]int
	all        []*wsConn
	refs       map[Ref]uuid.UUID
	nextID     uint64
	nextConn   model.Conn
	tr         *transcript // nil = not recorded
	maxStep    time.Duration
	frames     int
	settles    int // quiet windows waited to tell "one frame" from "more"
	stepBytes  int // bytes the current step wrote
}

// failure is how a trial failed.
type failure struct {
	step     int // index into the trial's steps
	expected string
	actual   string
	harness  bool   // the harness could not run (dial failed): not the relay's fault as far as we know
	sig      string // what kind of failure: "got event sessionSignup", "missing response", ...
}

func newTrial(urls []string, timeout, quiet time.Duration, record bool) *trial {
	t := &trial{urls: urls, timeout: timeout, quiet: quiet, inbox: make(chan arrival, 256),
		slots: map[int]*wsConn{}, generation: map[int]int{}, refs: map[Ref]uuid.UUID{},
		m: model.New(model.Options{CloseGrace: closeGrace(timeout)})}
	if record {
		t.tr = &transcript{start: time.Now()}
	}
	return t
}

// closeGrace is how long after a close the relay may still act as if the connection were there
// (§6.1 names no moment): twice the timeout (one step may itself wait that long), and at least
// 30 s — behind a proxy on a heavily loaded machine a relay was seen to take more than 10 s.
// (Checking that closes are processed at all is the hand-written 6.1 cases' job.)
func closeGrace(timeout time.Duration) time.Duration { return max(2*timeout, 30*time.Second) }

// run executes steps (whose indices in the generated run are idx) and returns the failure, if any.
func (t *trial) run(ctx context.Context, steps []*Step, idx []int) *failure {
	defer t.stop()
	for k, st := range steps {
		if err := ctx.Err(); err != nil {
			return &failure{step: k, harness: true, expected: "the run to finish", actual: err.Error()}
		}
		t.note("step %s", st.describe(idx[k]))
		began := time.Now()
		if f := t.step(ctx, st, idx[k]); f != nil {
			f.step = k
			return f
		}
		t.maxStep = max(t.maxStep, time.Since(began))
	}
	// a final quiet window: frames nobody should have sent may still be on their way
	if f := t.quietWindow(); f != nil {
		f.step = len(steps) - 1
		return f
	}
	return nil
}

func (t *trial) conn(ctx context.Context, slot int) (*wsConn, error) {
	if c := t.slots[slot]; c != nil && !c.closed && t.m.IsOpen(c.id) {
		return c, nil
	}
	if c := t.slots[slot]; c != nil && !c.closed {
		c.close(CloseAbrupt) // the relay closed it (close-connection); the frames after that are done
	}
	node := int(t.nextConn) % len(t.urls)
	t.nextConn++
	t.generation[slot]++
	name := slotName(slot, t.generation[slot])
	dctx, cancel := context.WithTimeout(ctx, t.timeout+5*time.Second)
	defer cancel()
	c, err := dial(dctx, t.urls[node], t.nextConn, name, t.inbox)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.urls[node], err)
	}
	t.slots[slot] = c
	t.all = append(t.all, c)
	t.m.Open(c.id)
	if len(t.urls) > 1 {
		t.note("%s connected, on node %d, %s", name, node+1, t.urls[node])
	} else {
		t.note("%s connected", name)
	}
	return c, nil
}

func (t *trial) step(ctx context.Context, st *Step, index int) *failure {
	if st.Close != 0 {
		c := t.slots[st.Slot]
		if c == nil || c.closed || !t.m.IsOpen(c.id) {
			return nil
		}
		c.close(st.Close)
		t.m.Close(c.id, time.Now())
		t.note("%s closed by the client", c.name)
		return nil
	}
	t.stepBytes = 0
	c, err := t.conn(ctx, st.Slot)
	if err != nil {
		return &failure{harness: true, expected: "a connection to the relay", actual: err.Error()}
	}
	res := func(r Ref) (uuid.UUID, bool) { u, ok := t.refs[r]; return u, ok }
	type creation struct {
		ref Ref
		h   int
	}
	var created []creation
	last := st.Frames[len(st.Frames)-1]
	for j, f := range st.Frames {
		if !t.m.IsOpen(c.id) {
			break
		}
		id := uint64(0)
		if f.takesID() {
			t.nextID++
			id = t.nextID
		}
		data := f.render(res, id, false)
		t.send(c, data, f.Binary)
		if h, ok := t.m.Created(); ok && f.creates() {
			created = append(created, creation{Ref{Step: index, Frame: st.frameID(j)}, h})
		}
	}
	barrier := !last.answered()
	if barrier && t.m.IsOpen(c.id) {
		t.sendBarrier(c) // a notification or malformed frame: its effects are done once this is answered
	}
	if f := t.await(c, !barrier); f != nil {
		return f
	}
	for _, cr := range created {
		if u, ok := t.m.UUID(cr.h); ok {
			t.refs[cr.ref] = u
		}
	}
	return nil
}

func (t *trial) send(c *wsConn, data []byte, binary bool) {
	t.frame(c, "→", data, binary, time.Now())
	t.frames++
	t.stepBytes += len(data)
	_ = c.write(data, binary) // a failed write shows as the relay's close, which the model judges
	t.m.Send(c.id, data, binary, time.Now())
}

// sendBarrier writes a request of an unknown method: its -32601 comes after everything the
// frames before it on this connection caused (§1.3).
func (t *trial) sendBarrier(c *wsConn) {
	t.nextID++
	t.send(c, []byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"Explore.barrier"}`, t.nextID)), false)
}

// await receives frames until the model has everything it expects. Where candidate worlds
// differ only in frames still to come, a barrier on the caller's connection decides (mayBarrier),
// or else one quiet window.
func (t *trial) await(caller *wsConn, mayBarrier bool) *failure {
	deadline := time.NewTimer(t.timeout)
	defer deadline.Stop()
	for {
		settled, waiting := t.m.Outstanding()
		if len(waiting) == 0 {
			return nil
		}
		var quiet *time.Timer
		var quietC <-chan time.Time
		if settled {
			if mayBarrier && len(waiting) == 1 && waiting[0] == caller.id && t.m.IsOpen(caller.id) {
				t.sendBarrier(caller)
				mayBarrier = false
				continue
			}
			quiet = time.NewTimer(t.settleWait())
			quietC = quiet.C
		}
		select {
		case a := <-t.inbox:
			if f := t.receive(a); f != nil {
				return f
			}
			deadline.Reset(t.timeout)
		case <-quietC:
			t.settles++
			t.m.Settle()
		case <-deadline.C:
			return &failure{expected: t.m.Missing() + fmt.Sprintf(" (within %s)", t.timeout), actual: "nothing more arrived",
				sig: "missing " + t.m.MissingKind()}
		}
		if quiet != nil {
			quiet.Stop()
		}
	}
}

// settleWait is how long a step waits for frames only some candidate behaviours predict: the
// quiet window, plus the time big frames may take on a loaded machine (4 µs a byte written:
// 3.4 s for a 850 KB body), within the timeout. It is rarely needed: once a behaviour is
// learned, candidates agree.
func (t *trial) settleWait() time.Duration {
	return t.quiet + min(t.timeout, time.Duration(t.stepBytes)*4*time.Microsecond)
}

func (t *trial) receive(a arrival) *failure {
	if a.c.closed {
		return nil // after the client closed it, nothing on it is the relay's doing
	}
	if a.frame.Closed {
		t.note("%s: the relay closed the connection", a.c.name)
	} else {
		t.frame(a.c, "←", a.frame.Data, a.frame.Binary, a.at)
	}
	err := t.m.Receive(a.c.id, a.frame)
	var mm *model.Mismatch
	if errors.As(err, &mm) {
		return &failure{expected: fmt.Sprintf("on %s: %s", a.c.name, mm.Expected), actual: fmt.Sprintf("on %s: %s", a.c.name, mm.Actual),
			sig: "got " + model.FrameKind(a.frame)}
	}
	if a.frame.Closed {
		a.c.closed = true
	}
	return nil
}

func (t *trial) quietWindow() *failure {
	q := time.NewTimer(t.quiet)
	defer q.Stop()
	for {
		select {
		case a := <-t.inbox:
			if f := t.receive(a); f != nil {
				return f
			}
		case <-q.C:
			return nil
		}
	}
}

// stop closes every connection and waits for their readers.
func (t *trial) stop() {
	for _, c := range t.all {
		if !c.closed {
			c.close(CloseAbrupt)
		}
	}
	for _, c := range t.all {
		for waiting := true; waiting; {
			select {
			case <-c.done:
				waiting = false
			case <-t.inbox:
			}
		}
	}
}

func (t *trial) note(format string, args ...any) {
	if t.tr != nil {
		t.tr.add(Line{At: time.Since(t.tr.start), Dir: "#", Text: fmt.Sprintf(format, args...)})
	}
}

func (t *trial) frame(c *wsConn, dir string, data []byte, binary bool, at time.Time) {
	if t.tr == nil {
		return
	}
	l := Line{At: at.Sub(t.tr.start), Conn: c.name, Dir: dir, Data: slices.Clone(data), Binary: binary}
	t.tr.add(l)
}

// Line is one line of a transcript: a frame sent (→) or received (←) on a connection, or a note (#).
type Line struct {
	At     time.Duration
	Conn   string
	Dir    string
	Data   []byte
	Binary bool
	Text   string // notes
}

type transcript struct {
	start time.Time
	lines []Line
}

func (tr *transcript) add(l Line) { tr.lines = append(tr.lines, l) }

// FormatTranscript renders lines the way the conformance reports show transcripts.
func FormatTranscript(lines []Line) string {
	var b strings.Builder
	for _, l := range lines {
		if l.Dir == "#" {
			fmt.Fprintf(&b, "%+8.3fs    # %s\n", l.At.Seconds(), l.Text)
			continue
		}
		text := string(l.Data)
		if l.Binary {
			text = fmt.Sprintf("<binary %d bytes>", len(l.Data))
		} else if len(text) > 600 {
			text = text[:300] + fmt.Sprintf(" …[%d bytes elided]… ", len(text)-600) + text[len(text)-300:]
		}
		fmt.Fprintf(&b, "%+8.3fs %-3s %s %s\n", l.At.Seconds(), l.Conn, l.Dir, text)
	}
	return b.String()
}
