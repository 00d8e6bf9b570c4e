package model

import (
	"maps"
	"slices"

	"github.com/google/uuid"
)

// Simulate makes the model its own relay: it renders the frames the first world expects, gives
// new objects uuids from fresh, and receives them. It returns the frames by connection. With
// every choice fixed and CloseGrace 0 there is one world, and Simulate is a deterministic relay.
func (m *Model) Simulate(fresh func() uuid.UUID) map[Conn][]Frame {
	out := map[Conn][]Frame{}
	w := m.worlds[0]
	uuidOf := func(h int) uuid.UUID {
		u, ok := m.uuidOf[h]
		if !ok {
			u = fresh()
			m.uuidOf[h] = u
			m.handleOf[u] = h
		}
		return u
	}
	for _, c := range slices.Sorted(maps.Keys(w.queues)) {
		for len(w.queues[c]) > 0 {
			f := w.queues[c][0].render(m, uuidOf)
			if err := m.Receive(c, f); err != nil {
				panic("model: simulated frame not admitted: " + err.Error())
			}
			w = m.worlds[0]
			out[c] = append(out[c], f)
		}
	}
	return out
}

// View is a read-only picture of the first world's state, for generating requests.
type View struct {
	Groups []GroupView
}

// GroupView is a group of the view.
type GroupView struct {
	Handle    int
	UUID      uuid.UUID
	Parties   int
	Threshold int
	Members   []Conn
	Sessions  []SessionView
}

// SessionView is a session of the view.
type SessionView struct {
	Handle   int
	UUID     uuid.UUID
	Kind     string
	Parties  []PartyView // in signup/load order
	Finished []uint16
}

// PartyView is a party number and the connection holding it.
type PartyView struct {
	Number uint16
	Conn   Conn
}

// View returns the first world's state.
func (m *Model) View() View {
	w := m.worlds[0]
	var v View
	for _, h := range slices.Sorted(maps.Keys(w.groups)) {
		g := w.groups[h]
		gv := GroupView{Handle: h, UUID: m.uuidOf[h], Parties: int(g.params.parties), Threshold: int(g.params.threshold), Members: slices.Clone(g.members)}
		for _, sh := range slices.Sorted(maps.Keys(g.sessions)) {
			s := g.sessions[sh]
			sv := SessionView{Handle: sh, UUID: m.uuidOf[sh], Kind: s.kind, Finished: slices.Sorted(maps.Keys(s.finished))}
			for _, p := range s.parties {
				sv.Parties = append(sv.Parties, PartyView{p.n, p.c})
			}
			gv.Sessions = append(gv.Sessions, sv)
		}
		v.Groups = append(v.Groups, gv)
	}
	return v
}

// IsOpen reports whether the first world expects c to be usable (not closed by either side).
func (m *Model) IsOpen(c Conn) bool {
	cs := m.worlds[0].conns[c]
	return cs != nil && cs.open && !cs.ended
}
