package model

import "github.com/google/uuid"

// The notifications: Notify.proposal (§4.9) and Notify.signed (§4.10).

// §4.9
func (w *world) notifyProposal(c Conn, r *request) {
	arr, err := positional(r.params, r.hasParams, 4, 4)
	var gu, su uuid.UUID
	var pid, msg string
	if err == nil {
		gu, su, err = groupAndSession(arr)
	}
	if err == nil {
		pid, err = asString(arr[2], "proposal id")
	}
	if err == nil {
		msg, err = asString(arr[3], "message")
	}
	if err != nil {
		w.fail(c, r, codeInvalidParams)
		return
	}
	g := w.lookupGroup(gu)
	if g == nil || (!g.isMember(c) && w.choose(ProposalFromNonMember) == 0) {
		w.fail(c, r, codeRule)
		return
	}
	w.ok(c, r, nil)
	w.event(g.othersThan(c), "notifyProposal", object(field("sessionId", uuidT(su)), field("proposalId", str(pid)), field("message", str(msg))))
}

// §4.10
func (w *world) notifySigned(c Conn, r *request) {
	arr, err := positional(r.params, r.hasParams, 3, 3)
	var gu, su uuid.UUID
	if err == nil {
		gu, su, err = groupAndSession(arr)
	}
	if err != nil {
		w.fail(c, r, codeInvalidParams)
		return
	}
	g, s := w.lookupSession(c, gu, su)
	if s == nil {
		w.fail(c, r, codeRule)
		return
	}
	w.ok(c, r, nil)
	var to []Conn
	for _, m := range g.members {
		if !s.isParty(m) {
			to = append(to, m)
		}
	}
	w.event(to, "notifySigned", lit(arr[2]))
}
