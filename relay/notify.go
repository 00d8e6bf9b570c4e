package relay

import (
	"time"

	"mpcrelay/relay/protocol"
)

// notifyProposal is §4.9.
func (s *Server) notifyProposal(x *call) {
	p := &x.req.Params.NotifyProposal
	if !x.paramsOK() {
		return
	}
	g := s.lockGroup(p.GroupID, false)
	if g == nil {
		x.fail(protocol.ErrGroupNotFound(p.GroupID))
		return
	}
	defer g.mu.RUnlock()
	// §4.9 SHOULD: only members may push proposals; COMPAT accepts anyone who knows the uuid.
	if !s.cfg.Compat && !g.isMember(x.c) {
		x.fail(protocol.ErrNotMember(x.c.id, g.id))
		return
	}
	g.touch(time.Now())
	payload := mustJSON(protocol.Proposal{SessionID: p.SessionID.String(), ProposalID: p.ProposalID, Message: p.Message})
	x.ok(nil)
	x.emit(protocol.EventNotifyProposal, payload, g.others(x.c))
}

// notifySigned is §4.10: the members that did not sign learn the result.
func (s *Server) notifySigned(x *call) {
	p := &x.req.Params.NotifySigned
	if !x.paramsOK() {
		return
	}
	g, sess, err := s.lookupSession(x.c, p.GroupID, p.SessionID, false)
	if err != nil {
		x.fail(err)
		return
	}
	defer g.mu.RUnlock()
	to := make([]member, 0, len(g.members))
	for _, m := range g.members {
		if !sess.isParty(m) {
			to = append(to, m)
		}
	}
	x.ok(nil)
	x.emit(protocol.EventNotifySigned, p.Value, to)
}
