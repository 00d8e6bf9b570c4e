package relay

import (
	"time"

	"mpcrelay/relay/protocol"
)

// notifyProposal is §4.9.
func (s *Server) notifyProposal(x *call) {
	var p protocol.NotifyProposalParams
	if !x.params(&p) {
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	g := s.groups[p.GroupID]
	if g == nil {
		x.fail(protocol.ErrGroupNotFound(p.GroupID))
		return
	}
	// §4.9 SHOULD: only members may push proposals; COMPAT accepts anyone who knows the uuid.
	if !s.cfg.Compat && !g.isMember(x.c) {
		x.fail(protocol.ErrNotMember(x.c.id, g.id))
		return
	}
	g.touch(time.Now())
	payload := mustJSON(protocol.Proposal{SessionID: p.SessionID.String(), ProposalID: p.ProposalID, Message: p.Message})
	to := make([]*conn, 0, len(g.members))
	for _, m := range g.members {
		if m != x.c {
			to = append(to, m)
		}
	}
	x.ok(nil)
	x.emit(protocol.EventNotifyProposal, payload, to)
}

// notifySigned is §4.10: the members that did not sign learn the result.
func (s *Server) notifySigned(x *call) {
	var p protocol.NotifySignedParams
	if !x.params(&p) {
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	g, sess, err := s.lookupSession(x.c, p.GroupID, p.SessionID)
	if err != nil {
		x.fail(err)
		return
	}
	to := make([]*conn, 0, len(g.members))
	for _, m := range g.members {
		if !sess.isParty(m) {
			to = append(to, m)
		}
	}
	x.ok(nil)
	x.emit(protocol.EventNotifySigned, p.Value, to)
}
