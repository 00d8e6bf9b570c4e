package relay

import (
	"encoding/json"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"mpcrelay/relay/protocol"
)

// The relay's state: a table of groups (table.go), and in each group its members and sessions.
// Each group is guarded by its own lock, group.mu; doc.go says why and how a request runs.

// member is a connection as a group's state sees it: the client number of the §5 texts and a
// frame sink that keeps the order of its calls and never blocks (a full queue drops that client,
// §6.2). The relay's members are its own connections (*conn); a cluster layer can add members
// that live on another node, and the methods (group.go, session.go, notify.go) stay the same.
type member interface {
	clientID() uint64
	enqueue(f outFrame)
}

// group is a §3.2 group plus its relay state.
type group struct {
	id     uuid.UUID
	params protocol.Parameters
	label  string

	// mu guards members and sessions (and every session's fields). Methods that change state
	// hold it exclusively, methods that only route hold it shared; both queue their frames
	// before they release it (§1.3).
	mu       sync.RWMutex
	members  []member // in join order
	sessions map[uuid.UUID]*session

	// gone is set, under mu, when the group leaves the table (its last member left, or it
	// expired): a request that found it just before treats it as unknown. It is atomic so that
	// a connection can prune its list of groups without taking mu.
	gone     atomic.Bool
	lastUsed atomic.Int64 // unix nanos, for idle expiry
}

func newGroup(id uuid.UUID, label string, params protocol.Parameters, creator member, now time.Time) *group {
	g := &group{id: id, params: params, label: label, members: []member{creator}, sessions: make(map[uuid.UUID]*session)}
	g.touch(now)
	return g
}

func (g *group) object() protocol.Group {
	return protocol.Group{UUID: g.id, Params: g.params, Label: g.label}
}

func (g *group) isMember(m member) bool { return slices.Contains(g.members, m) }

func (g *group) full() bool { return len(g.members) >= int(g.params.Parties) }

func (g *group) touch(now time.Time) { g.lastUsed.Store(now.UnixNano()) }

// others lists the members except m, in join order.
func (g *group) others(m member) []member {
	out := make([]member, 0, len(g.members))
	for _, o := range g.members {
		if o != m {
			out = append(out, o)
		}
	}
	return out
}

// party is a party number held by a connection in a session (§3.4).
type party struct {
	number uint16
	conn   member
}

// session is a §3.3 session plus its parties. Its group's mu guards it, except lastUsed.
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

func (s *session) holder(n uint16) member {
	for _, p := range s.parties {
		if p.number == n {
			return p.conn
		}
	}
	return nil
}

func (s *session) isParty(m member) bool {
	for _, p := range s.parties {
		if p.conn == m {
			return true
		}
	}
	return false
}

// partyConns lists the connection of every party, once per party entry, like the original.
func (s *session) partyConns() []member {
	out := make([]member, len(s.parties))
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
func (s *session) removeConn(m member) {
	s.parties = slices.DeleteFunc(s.parties, func(p party) bool {
		if p.conn == m {
			delete(s.finished, p.number)
			return true
		}
		return false
	})
}

// lockGroup finds a group and locks it: exclusively when write, else shared. It returns nil
// when there is no such group. The caller unlocks with unlockGroup.
func (s *Server) lockGroup(id uuid.UUID, write bool) *group {
	g := s.groups.get(id)
	if g == nil {
		return nil
	}
	if write {
		g.mu.Lock()
	} else {
		g.mu.RLock()
	}
	if g.gone.Load() {
		unlockGroup(g, write)
		return nil
	}
	return g
}

func unlockGroup(g *group, write bool) {
	if write {
		g.mu.Unlock()
	} else {
		g.mu.RUnlock()
	}
}

// lookupGroup locks the group the caller names and checks that the caller belongs to it (§4.3:
// member check for every method that names a group), in the original's order: existence, then
// membership. On success the group is locked (unlockGroup); on failure it is not.
func (s *Server) lookupGroup(m member, id uuid.UUID, write bool) (*group, *protocol.Error) {
	g := s.lockGroup(id, write)
	if g == nil {
		return nil, protocol.ErrGroupNotFound(id)
	}
	if !g.isMember(m) {
		unlockGroup(g, write)
		return nil, protocol.ErrNotMember(m.clientID(), id)
	}
	return g, nil
}

// lookupSession is lookupGroup plus the session, and marks both used. An unknown session gets
// the original's "group <uuid> does not exist" text (§5).
func (s *Server) lookupSession(m member, gid, sid uuid.UUID, write bool) (*group, *session, *protocol.Error) {
	g, err := s.lookupGroup(m, gid, write)
	if err != nil {
		return nil, nil, err
	}
	sess := g.sessions[sid]
	if sess == nil {
		unlockGroup(g, write)
		return nil, nil, protocol.ErrSessionNotFound(sid)
	}
	// Every method that names a session uses it: keep both from idle expiry.
	now := time.Now()
	g.touch(now)
	sess.touch(now)
	return g, sess, nil
}

// deleteGroup takes a group out of the table with its sessions. Caller holds g.mu exclusively.
// Members keep a pointer to it in their own lists until they prune it (conn.groups).
func (s *Server) deleteGroup(g *group) {
	if g.gone.Swap(true) {
		return
	}
	s.groups.remove(g)
	s.sessionCount.Add(-int64(len(g.sessions)))
	s.metrics.groups.Dec()
	s.metrics.sessions.Sub(float64(len(g.sessions)))
}

// unregister removes a closed connection from every group it belongs to (§6.1). It runs where
// the connection's requests run, the only goroutine that changes its list of groups: its read
// pump, or for a connection of another node its lane (or NodeLost/LinkLost, while no lane runs).
func (s *Server) unregister(c *conn) {
	if s.cl != nil && c.remote == nil {
		s.cl.closed(c) // cluster mode: the owners of its groups on other nodes
	}
	for _, g := range c.groups {
		g.mu.Lock()
		if !g.gone.Load() {
			g.members = slices.DeleteFunc(g.members, func(m member) bool { return m == member(c) })
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
		g.mu.Unlock()
	}
	c.groups = nil
}
