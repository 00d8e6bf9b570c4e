package model

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"mpcrelay/conformance/jsonexact"
)

// Options configure a model.
type Options struct {
	// Fixed pins choices to an option instead of learning them (Strict pins all to option 0).
	Fixed map[Choice]int
	// CloseGrace bounds how long after a close the relay may still act as if the connection were
	// there (§6.1 names no moment); after it the model requires the close to be processed.
	CloseGrace time.Duration
}

// maxWorlds bounds the candidate worlds; the protocol's choices never need nearly as many.
const maxWorlds = 512

// Model predicts the frames of a relay (see the package doc).
type Model struct {
	opts     Options
	worlds   []*world
	uuidOf   map[int]uuid.UUID // handle → the uuid the relay gave it
	handleOf map[uuid.UUID]int // every uuid the relay issued, for freshness (§3.6)
	next     int               // next handle
	gen      int               // next world generation (copy-on-write owner)
	closedAt map[Conn]time.Time
	lastNew  []int // handles of objects the last Send may create
}

// New returns a model with no connections.
func New(opts Options) *Model {
	m := &Model{opts: opts, uuidOf: map[int]uuid.UUID{}, handleOf: map[uuid.UUID]int{}, closedAt: map[Conn]time.Time{}}
	w := &world{choices: undecided(), groups: map[int]*group{}, conns: map[Conn]*connState{}, queues: map[Conn][]*expect{}}
	for c, o := range opts.Fixed {
		w.choices[c] = int8(o)
	}
	w.m = m
	m.worlds = []*world{w}
	return m
}

// world is one candidate behaviour of the relay and the state it leads to.
type world struct {
	gen     int
	choices choiceSet
	groups  map[int]*group
	conns   map[Conn]*connState
	pending []Conn // closed connections the relay may not have processed yet, oldest first
	queues  map[Conn][]*expect

	// during one operation
	forced   map[Choice]int
	unforced []Choice
	at       time.Time // when the request being handled was sent
	m        *Model
}

func (m *Model) clone(w *world) *world {
	m.gen++
	x := &world{gen: m.gen, choices: w.choices, groups: maps.Clone(w.groups), pending: slices.Clone(w.pending),
		conns: make(map[Conn]*connState, len(w.conns)), queues: make(map[Conn][]*expect, len(w.queues)), m: m}
	for c, s := range w.conns {
		cs := *s
		x.conns[c] = &cs
	}
	for c, q := range w.queues {
		if len(q) > 0 {
			x.queues[c] = slices.Clone(q)
		}
	}
	return x
}

// choose returns the option this world takes at c, deciding it now if it is still open.
func (w *world) choose(c Choice) int {
	if v := w.choices[c]; v >= 0 {
		return int(v)
	}
	if v, ok := w.forced[c]; ok {
		w.choices[c] = int8(v)
		return v
	}
	w.choices[c] = 0
	w.unforced = append(w.unforced, c)
	return 0
}

// group returns group h for changing it (copying it first when another world shares it).
func (w *world) mutGroup(h int) *group {
	g := w.groups[h]
	if g != nil && g.owner != w.gen {
		g = g.copy(w.gen)
		w.groups[h] = g
	}
	return g
}

// expect queues e on connection c, when the client can still see it.
func (w *world) expect(c Conn, e *expect) {
	if cs := w.conns[c]; cs != nil && cs.open && !cs.ended {
		w.queues[c] = append(w.queues[c], e)
	}
}

// branch runs op on copies of w, one per combination of the open choices op depends on.
func (m *Model) branch(w *world, op func(*world)) []*world {
	var out []*world
	var explore func(forced map[Choice]int)
	explore = func(forced map[Choice]int) {
		x := m.clone(w)
		x.forced = forced
		op(x)
		unforced := x.unforced
		x.forced, x.unforced = nil, nil
		out = append(out, x)
		for i, c := range unforced {
			for k := 1; k < len(c.Options()); k++ {
				f := maps.Clone(forced)
				for _, d := range unforced[:i] {
					f[d] = 0
				}
				f[c] = k
				explore(f)
			}
		}
	}
	explore(map[Choice]int{})
	return out
}

// apply runs op in every world, also in the variants where the relay has or has not yet
// processed each pending close (oldest first); closes older than the grace are processed in all.
// Only closes of connections in the group the request names (touched) can change its outcome,
// so only they make variants; the others stay pending.
func (m *Model) apply(at time.Time, touched int, op func(*world)) {
	var out []*world
	for _, w := range m.worlds {
		expired := 0
		for expired < len(w.pending) && at.Sub(m.closedAt[w.pending[expired]]) >= m.opts.CloseGrace {
			expired++
		}
		ks := []int{expired}
		for i := expired; i < len(w.pending); i++ {
			if w.involved(w.pending[i], touched) {
				ks = append(ks, i+1)
			}
		}
		for _, k := range ks {
			out = append(out, m.branch(w, func(x *world) {
				for _, c := range x.pending[:k] {
					x.remove(c)
				}
				x.pending = x.pending[k:]
				op(x)
			})...)
		}
	}
	m.worlds = m.dedupe(out)
	if len(m.worlds) > maxWorlds {
		panic(fmt.Sprintf("model: %d candidate worlds (more than %d): a choice is read where it changes nothing", len(m.worlds), maxWorlds))
	}
}

// dedupe drops worlds that are the same as an earlier one: same choices, same pending closes,
// the same frames still to receive and the same state. (Equal frames do not imply equal states: a
// notification succeeds or fails silently.)
func (m *Model) dedupe(ws []*world) []*world {
	seen := map[string][]*world{}
	var out []*world
	for _, w := range ws {
		key := fmt.Sprint(w.choices, w.pending)
		if slices.ContainsFunc(seen[key], func(x *world) bool { return w.sameQueues(x) && w.sameState(x) }) {
			continue
		}
		seen[key] = append(seen[key], w)
		out = append(out, w)
	}
	return out
}

// sameQueues compares the frames two worlds still expect.
func (w *world) sameQueues(x *world) bool {
	n := 0
	for c, q := range w.queues {
		if len(q) == 0 {
			continue
		}
		n++
		if !slices.EqualFunc(q, x.queues[c], (*expect).equal) {
			return false
		}
	}
	for _, q := range x.queues {
		if len(q) > 0 {
			n--
		}
	}
	return n == 0
}

// sameState compares the relay state of two worlds (groups shared copy-on-write compare at once).
func (w *world) sameState(x *world) bool {
	if len(w.groups) != len(x.groups) || len(w.conns) != len(x.conns) {
		return false
	}
	for c, s := range w.conns {
		if t, ok := x.conns[c]; !ok || *s != *t {
			return false
		}
	}
	for h, g := range w.groups {
		o, ok := x.groups[h]
		if !ok {
			return false
		}
		if g != o && !g.equal(o) {
			return false
		}
	}
	return true
}

func (w *world) idle() bool {
	for _, q := range w.queues {
		if len(q) > 0 {
			return false
		}
	}
	return true
}

// Open registers a new connection.
func (m *Model) Open(c Conn) {
	for _, w := range m.worlds {
		w.conns[c] = &connState{open: true}
	}
}

// Close records that the client closed c at at: it sees nothing more there, and the relay
// removes it from its groups (§6.1) some time before at+CloseGrace.
func (m *Model) Close(c Conn, at time.Time) {
	if _, ok := m.closedAt[c]; !ok {
		m.closedAt[c] = at
	}
	for _, w := range m.worlds {
		cs := w.conns[c]
		if cs == nil || !cs.open {
			continue
		}
		cs.open = false
		delete(w.queues, c)
		if !cs.ended {
			cs.ended = true
			if w.involvedAnywhere(c) {
				w.pending = append(w.pending, c)
			}
		}
	}
}

// Send feeds a frame the client sent on c at at; the model predicts what it makes the relay send.
func (m *Model) Send(c Conn, data []byte, binary bool, at time.Time) {
	req := parseRequest(data, binary)
	if req.kind == fkRequest && (req.method == "Group.create" || req.method == "Session.create") {
		m.next++
		req.h = m.next
		m.lastNew = []int{req.h}
	} else {
		m.lastNew = nil
	}
	m.apply(at, m.touchedGroup(req), func(w *world) { w.handle(c, req, at) })
}

// touchedGroup is the handle of the group a request names (0 when none is known).
func (m *Model) touchedGroup(r *request) int {
	if r.kind != fkRequest {
		return 0
	}
	v := r.params
	if arr, ok := v.([]any); ok && len(arr) > 0 && r.method != "Group.join" {
		v = arr[0]
	}
	s, ok := v.(string)
	if !ok {
		return 0
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return 0
	}
	return m.handleOf[u]
}

// involved: removing c changes group h (c is a member or holds one of its party numbers).
func (w *world) involved(c Conn, h int) bool {
	g := w.groups[h]
	if g == nil {
		return false
	}
	if g.isMember(c) {
		return true
	}
	for _, s := range g.sessions {
		if s.isParty(c) {
			return true
		}
	}
	return false
}

// involvedAnywhere: removing c changes the world at all.
func (w *world) involvedAnywhere(c Conn) bool {
	for h := range w.groups {
		if w.involved(c, h) {
			return true
		}
	}
	return false
}

// Created returns the handle of the object the last Send may create, if any (see Handle).
func (m *Model) Created() (int, bool) {
	if len(m.lastNew) == 0 {
		return 0, false
	}
	return m.lastNew[0], true
}

// UUID returns the uuid the relay gave the object h, once seen.
func (m *Model) UUID(h int) (uuid.UUID, bool) {
	u, ok := m.uuidOf[h]
	return u, ok
}

// Mismatch is a frame no candidate world admits: the relay broke the protocol.
type Mismatch struct {
	Conn     Conn
	Expected string
	Actual   string
}

func (e *Mismatch) Error() string {
	return fmt.Sprintf("Expected: %s\nActual:   %s", e.Expected, e.Actual)
}

// Receive feeds a frame the client received on c. It returns a *Mismatch when no world admits it
// (the model is then unchanged, so the caller can still describe what it expected).
func (m *Model) Receive(c Conn, f Frame) error {
	r := decodeReceived(f)
	var alive []*world
	for _, w := range m.worlds {
		q := w.queues[c]
		if len(q) == 0 {
			continue
		}
		b := &binder{m: m}
		if !q[0].matches(r, b) {
			continue
		}
		b.commit()
		alive = append(alive, w)
	}
	if len(alive) == 0 {
		return &Mismatch{Conn: c, Expected: m.expectedOn(c), Actual: describeReceived(r)}
	}
	for _, w := range alive {
		e := w.queues[c][0]
		w.queues[c] = w.queues[c][1:]
		if e.kind == eClosed {
			w.conns[c].open = false
		}
	}
	m.worlds = m.dedupe(alive)
	return nil
}

// expectedOn describes what the worlds expect next on c.
func (m *Model) expectedOn(c Conn) string {
	var out []string
	for _, w := range m.worlds {
		d := "no frame"
		if q := w.queues[c]; len(q) > 0 {
			d = q[0].describe(m)
		}
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return strings.Join(out, "\n       or: ")
}

func describeReceived(r *received) string {
	switch {
	case r.frame.Closed:
		return "the relay closed the connection"
	case r.frame.Binary:
		return fmt.Sprintf("a binary frame of %d bytes", len(r.frame.Data))
	case r.obj == nil:
		return fmt.Sprintf("%s (%s)", clip(string(r.frame.Data), 300), r.err)
	}
	return clip(string(r.frame.Data), 300)
}

// Outstanding reports whether some world has received everything it expects (settled), and the
// connections where other worlds still expect frames.
func (m *Model) Outstanding() (settled bool, waiting []Conn) {
	for _, w := range m.worlds {
		if w.idle() {
			settled = true
			continue
		}
		for c, q := range w.queues {
			if len(q) > 0 && !slices.Contains(waiting, c) {
				waiting = append(waiting, c)
			}
		}
	}
	slices.Sort(waiting)
	return settled, waiting
}

// Settle keeps only the worlds that expect nothing more: the caller waited a quiet window and
// nothing came. It reports whether any world was dropped.
func (m *Model) Settle() bool {
	var idle []*world
	for _, w := range m.worlds {
		if w.idle() {
			idle = append(idle, w)
		}
	}
	if len(idle) == 0 || len(idle) == len(m.worlds) {
		return false
	}
	m.worlds = m.dedupe(idle)
	return true
}

// Missing describes the frames still expected, for a wait that timed out: the first world's.
func (m *Model) Missing() string {
	var parts []string
	for _, w := range m.worlds {
		conns := slices.Sorted(maps.Keys(w.queues))
		for _, c := range conns {
			for _, e := range w.queues[c] {
				parts = append(parts, fmt.Sprintf("on connection %d: %s", c, e.describe(m)))
			}
		}
		if len(parts) > 0 {
			break
		}
	}
	return strings.Join(parts, "\n          ")
}

// MissingKind names the first frame still expected (for a failure's signature): "event
// sessionSignup", "response", "error -32603", "close".
func (m *Model) MissingKind() string {
	for _, w := range m.worlds {
		for _, c := range slices.Sorted(maps.Keys(w.queues)) {
			if q := w.queues[c]; len(q) > 0 {
				return q[0].kindName()
			}
		}
	}
	return ""
}

// FrameKind names a received frame the same way.
func FrameKind(f Frame) string {
	r := decodeReceived(f)
	switch {
	case f.Closed:
		return "close"
	case r.obj == nil:
		return "garbage"
	}
	if e, ok := r.obj["error"].(map[string]any); ok {
		return fmt.Sprintf("error %v", e["code"])
	}
	if pair, ok := r.obj["result"].([]any); ok && len(pair) == 2 {
		if name, ok := pair[0].(string); ok && jsonexact.Equal(r.obj["id"], json.Number("0")) {
			return "event " + name
		}
	}
	return "response"
}

// Learned lists, for every choice all remaining worlds agree on, the option the relay showed.
func (m *Model) Learned() []string {
	var out []string
	for _, c := range Choices() {
		if _, fixed := m.opts.Fixed[c]; fixed {
			continue
		}
		v := m.worlds[0].choices[c]
		same := v >= 0
		for _, w := range m.worlds[1:] {
			same = same && w.choices[c] == v
		}
		if same {
			out = append(out, fmt.Sprintf("%s: %s", c, c.Options()[v]))
		}
	}
	return out
}
