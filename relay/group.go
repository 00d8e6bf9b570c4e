package relay

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"mpcrelay/relay/protocol"
)

// errTooManyGroups is the relay's own limit (Config.MaxGroupsPerConn), not a rule of the original.
func errTooManyGroups(limit int) *protocol.Error {
	return &protocol.Error{Code: protocol.CodeInternal, Message: fmt.Sprintf("connection already belongs to %d groups, the relay's limit", limit)}
}

func (s *Server) groupLimitReached(c *conn) bool {
	return s.cfg.MaxGroupsPerConn > 0 && len(c.groups) >= s.cfg.MaxGroupsPerConn
}

// groupCreate is §4.1.
func (s *Server) groupCreate(x *call) {
	var p protocol.GroupCreateParams
	if !x.params(&p) {
		return
	}
	// §4.1: these rules, in this order.
	switch {
	case p.Params.Parties <= 1:
		x.fail(protocol.ErrPartiesTooFew())
		return
	case p.Params.Threshold == 0:
		x.fail(protocol.ErrThresholdZero())
		return
	case p.Params.Threshold >= p.Params.Parties:
		x.fail(protocol.ErrThresholdTooLarge())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.groupLimitReached(x.c) {
		x.fail(errTooManyGroups(s.cfg.MaxGroupsPerConn))
		return
	}
	g := &group{id: uuid.New(), params: p.Params, label: p.Label, members: []*conn{x.c}, sessions: make(map[uuid.UUID]*session)}
	g.touch(time.Now())
	s.groups[g.id] = g
	x.c.groups[g.id] = g
	s.metrics.groups.Set(float64(len(s.groups)))
	x.okValue(g.id)
}

// groupJoin is §4.2. Its params are a bare uuid string, not an array.
func (s *Server) groupJoin(x *call) {
	var p protocol.GroupJoinParams
	if !x.params(&p) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[p.GroupID]
	if g == nil {
		x.fail(protocol.ErrGroupNotFound(p.GroupID))
		return
	}
	member := g.isMember(x.c)
	// §4.2: a full group refuses with close-connection. Strict: a member re-joining is
	// idempotent even when the group is full; COMPAT checks fullness before membership.
	if g.full() && (s.cfg.Compat || !member) {
		x.fail(protocol.ErrGroupFull(g.id))
		return
	}
	if !member {
		if s.groupLimitReached(x.c) {
			x.fail(errTooManyGroups(s.cfg.MaxGroupsPerConn))
			return
		}
		g.members = append(g.members, x.c)
		x.c.groups[g.id] = g
	}
	g.touch(time.Now())
	x.okValue(g.object())
}
