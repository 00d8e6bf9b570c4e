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
