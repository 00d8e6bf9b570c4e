package model

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// The candidate worlds (see the package doc): each is one combination of the choices the relay
// may have made and the state it leads to. An operation runs in every world, branching where it
// reads a choice still open or a close the relay may not have processed yet; equal worlds merge.

// maxWorlds bounds the candidate worlds; the protocol's choices never need nearly as many.
const maxWorlds = 512

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
