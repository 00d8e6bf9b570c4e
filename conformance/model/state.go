package model

import (
	"maps"
	"slices"
)

// Conn identifies one client connection (one WebSocket, from dial to close).
type Conn int

// The relay state of one world. Groups and sessions are keyed by handles (the model's own ids);
// the uuids the relay gave them are bound in Model.uuidOf. Groups are shared between worlds
// copy-on-write: a world copies a group (with its sessions) before changing it.

type group struct {
	owner    int // the world generation that may change it in place
	h        int
	params   parameters
	label    string
	members  []Conn // in join order
	sessions map[int]*session
}

type party struct {
	n uint16
	c Conn
}

type session struct {
	h        int
	kind     string
	value    any
	parties  []party // in signup/load order
	last     uint16  // the last number issued or loaded (§4.5)
	finished map[uint16]bool
	// events already sent once (§4.5, §4.6, §4.8: exactly once per session)
	signupSent, loadSent, closedSent bool
}

func (g *group) copy(owner int) *group {
	c := *g
	c.owner = owner
	c.members = slices.Clone(g.members)
	c.sessions = make(map[int]*session, len(g.sessions))
	for h, s := range g.sessions {
		sc := *s
		sc.parties = slices.Clone(s.parties)
		sc.finished = maps.Clone(s.finished)
		c.sessions[h] = &sc
	}
	return &c
}

func (g *group) isMember(c Conn) bool { return slices.Contains(g.members, c) }

// othersThan lists the members but c, in join order (the receivers of sessionCreate and
// notifyProposal).
func (g *group) othersThan(c Conn) []Conn {
	return slices.DeleteFunc(slices.Clone(g.members), func(m Conn) bool { return m == c })
}
func (g *group) full() bool { return len(g.members) >= int(g.params.parties) }

// required is the party count at which sessionSignup / sessionLoad fire (§4.5).
func required(kind string, p parameters) int {
	if kind == kindSign {
		return int(p.threshold) + 1
	}
	return int(p.parties)
}

func (s *session) holders(n uint16) []Conn {
	var out []Conn
	for _, p := range s.parties {
		if p.n == n && !slices.Contains(out, p.c) {
			out = append(out, p.c)
		}
	}
	return out
}

func (s *session) isParty(c Conn) bool {
	for _, p := range s.parties {
		if p.c == c {
			return true
		}
	}
	return false
}

// numbers returns the session's distinct party numbers in ascending order.
func (s *session) numbers() []uint16 {
	ns := make([]uint16, len(s.parties))
	for i, p := range s.parties {
		ns[i] = p.n
	}
	slices.Sort(ns)
	return slices.Compact(ns)
}

// partyConns lists the receivers of an event "to every party": one entry per party number, or
// one per connection.
func (s *session) partyConns(perConn bool, except Conn) []Conn {
	var out []Conn
	for _, p := range s.parties {
		if p.c == except || (perConn && slices.Contains(out, p.c)) {
			continue
		}
		out = append(out, p.c)
	}
	return out
}

// connState is what the model knows of a connection.
type connState struct {
	open  bool // the client can still see frames on it (until it closed, or saw the relay close)
	ended bool // closed by either side: the relay reads nothing more and sends nothing new
}

func (g *group) equal(o *group) bool {
	if g.params != o.params || g.label != o.label || !slices.Equal(g.members, o.members) || len(g.sessions) != len(o.sessions) {
		return false
	}
	for h, s := range g.sessions {
		t, ok := o.sessions[h]
		if !ok || s.kind != t.kind || s.last != t.last || !slices.Equal(s.parties, t.parties) || !maps.Equal(s.finished, t.finished) ||
			s.signupSent != t.signupSent || s.loadSent != t.loadSent || s.closedSent != t.closedSent {
			return false
		}
	}
	return true
}
