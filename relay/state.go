package relay

import (
	"encoding/json"
	"slices"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"mpcrelay/relay/protocol"
)

// The relay's shared state: groups, their members and sessions. Server.mu guards every field
// here except the lastUsed stamps, which readers update under the read lock.

// group is a §3.2 group plus its relay state.
type group struct {
	id       uuid.UUID
	params   protocol.Parameters
	label    string
	members  []*conn // in join order
	sessions map[uuid.UUID]*session
	lastUsed atomic.Int64 // unix nanos, for idle expiry
}

func (g *group) object() protocol.Group {
	return protocol.Group{UUID: g.id, Params: g.params, Label: g.label}
}

func (g *group) isMember(c *conn) bool { return slices.Contains(g.members, c) }

func (g *group) full() bool { return len(g.members) >= int(g.params.Parties) }

func (g *group) touch(now time.Time) { g.lastUsed.Store(now.UnixNano()) }

// party is a party number held by a connection in a session (§3.4).
type party struct {
	number uint16
	conn   *conn
}

// session is a §3.3 session plus its parties.
type session struct {
	id      uuid.UUID
	kind    protocol.SessionKind
	value   json.RawMessage
	parties []party // in signup/load order, as the original keeps them
	last    uint16  // the last number issued or loaded (§4.5)

	finished map[uint16]bool
	// Strict mode sends each of these events once per session (§4.5, §4.6, §4.8), even when
	// parties leave (§6.1) and the count reaches the required one again.
	signupSent, loadSent, closedSent bool

	lastUsed atomic.Int64
}

func (s *session) object() protocol.Session {
	return protocol.Session{UUID: s.id, Kind: s.kind, Value: s.value}
}

func (s *session) touch(now time.Time) { s.lastUsed.Store(now.UnixNano()) }

func (s *session) holder(n uint16) *conn {
	for _, p := range s.parties {
		if p.number == n {
			return p.conn
		}
	}
	return nil
}

func (s *session) isParty(c *conn) bool {
	for _, p := range s.parties {
		if p.conn == c {
			return true
		}
	}
	return false
}

// partyConns lists the connection of every party, once per party entry, like the original.
func (s *session) partyConns() []*conn {
	out := make([]*conn, len(s.parties))
	for i, p := range s.parties {
		out[i] = p.conn
	}
	return out
}

// finishedNumbers is the ascending payload of sessionClosed (§4.8).
func (s *session) finishedNumbers() []uint16 {
	out := make([]uint16, 0, len(s.finished))
	for n := range s.finished {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// removeConn drops the party numbers a closed connection held (strict §6.1).
func (s *session) removeConn(c *conn) {
	s.parties = slices.DeleteFunc(s.parties, func(p party) bool {
		if p.conn == c {
			delete(s.finished, p.number)
			return true
		}
		return false
	})
}

// lookupGroup finds a group the caller belongs to (§4.3: member check for every method that
// names a group). The order of checks is the original's: existence, then membership.
func (s *Server) lookupGroup(c *conn, id uuid.UUID) (*group, *protocol.Error) {
	g := s.groups[id]
	if g == nil {
		return nil, protocol.ErrGroupNotFound(id)
	}
	if !g.isMember(c) {
		return nil, protocol.ErrNotMember(c.id, id)
	}
	return g, nil
}

// lookupSession finds a session of a group the caller belongs to, and marks both used. An unknown session gets
// the original's "group <uuid> does not exist" text (§5).
func (s *Server) lookupSession(c *conn, gid, sid uuid.UUID) (*group, *session, *protocol.Error) {
	g, err := s.lookupGroup(c, gid)
	if err != nil {
		return nil, nil, err
	}
	sess := g.sessions[sid]
	if sess == nil {
		return nil, nil, protocol.ErrSessionNotFound(sid)
	}
	// Every method that names a session uses it: keep both from idle expiry.
	now := time.Now()
	g.touch(now)
	sess.touch(now)
	return g, sess, nil
}

// deleteGroup removes a group, its sessions and its members' references to it. Caller holds mu.
func (s *Server) deleteGroup(g *group) {
	for _, m := range g.members {
		delete(m.groups, g.id)
	}
	s.sessionCount -= len(g.sessions)
	delete(s.groups, g.id)
	s.metrics.groups.Set(float64(len(s.groups)))
	s.metrics.sessions.Set(float64(s.sessionCount))
}

// unregister removes a closed connection from every group (§6.1). Caller must not hold mu.
func (s *Server) unregister(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range c.groups {
		g.members = slices.DeleteFunc(g.members, func(m *conn) bool { return m == c })
		if !s.cfg.Compat {
			// Strict §6.1: free the numbers the connection held, so a reconnecting party can
			// Session.load its number again; COMPAT leaves them (events to them are dropped).
			for _, sess := range g.sessions {
				sess.removeConn(c)
			}
		}
		if len(g.members) == 0 {
			s.deleteGroup(g)
		}
	}
	c.groups = nil
}
