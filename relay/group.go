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

// groupCreate is §4.1.
func (s *Server) groupCreate(x *call) {
	p := &x.req.Params.GroupCreate
	if !x.paramsOK() {
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
	if x.c.atGroupLimit() {
		x.fail(errTooManyGroups(s.cfg.MaxGroupsPerConn))
		return
	}
	id := uuid.New()
	if s.cl != nil {
		id = s.cl.newGroupID() // cluster mode: the uuid names this node as the owner
	}
	g := newGroup(id, p.Label, p.Params, x.c, time.Now())
	// Locked until answered, like every group whose state changes (§1.3).
	g.mu.Lock()
	defer g.mu.Unlock()
	s.groups.add(g)
	x.c.groups = append(x.c.groups, g)
	s.metrics.groups.Inc()
	x.okValue(g.id)
}

// groupJoin is §4.2. Its params are a bare uuid string, not an array.
func (s *Server) groupJoin(x *call) {
	p := &x.req.Params.GroupJoin
	if !x.paramsOK() {
		return
	}
	g := s.lockGroup(p.GroupID, true)
	if g == nil {
		x.fail(protocol.ErrGroupNotFound(p.GroupID))
		return
	}
	defer g.mu.Unlock()
	member := g.isMember(x.c)
	// §4.2: a full group refuses with close-connection. Strict: a member re-joining is
	// idempotent even when the group is full; COMPAT checks fullness before membership.
	if g.full() && (s.cfg.Compat || !member) {
		x.fail(protocol.ErrGroupFull(g.id))
		return
	}
	if !member {
		if x.c.atGroupLimit() {
			x.fail(errTooManyGroups(s.cfg.MaxGroupsPerConn))
			return
		}
		g.members = append(g.members, x.c)
		x.c.groups = append(x.c.groups, g)
	}
	g.touch(time.Now())
	x.okValue(g.object())
}
