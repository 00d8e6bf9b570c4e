package model

import (
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"
)

// The methods of §4, one function each. A function reads the world, decides (calling choose
// only where the protocol leaves the relay a choice that changes what happens), queues the
// frames every connection must receive, and changes the world.

// Error codes (§2.3, §1.4).
const (
	codeParse          = -32700
	codeInvalidRequest = -32600
	codeMethodNotFound = -32601
	codeInvalidParams  = -32602
	codeRule           = -32603
)

var methods = map[string]func(w *world, c Conn, r *request){
	"Group.create":    (*world).groupCreate,
	"Group.join":      (*world).groupJoin,
	"Session.create":  (*world).sessionCreate,
	"Session.join":    (*world).sessionJoin,
	"Session.signup":  (*world).sessionSignup,
	"Session.load":    (*world).sessionLoad,
	"Session.message": (*world).sessionMessage,
	"Session.finish":  (*world).sessionFinish,
	"Notify.proposal": (*world).notifyProposal,
	"Notify.signed":   (*world).notifySigned,
}

func (w *world) handle(c Conn, r *request, at time.Time) {
	cs := w.conns[c]
	if cs == nil || cs.ended {
		return // the relay reads nothing more from a closed connection
	}
	switch r.kind {
	case fkBinary: // §1.2: ignored
	case fkInvalidJSON:
		w.invalidFrame(c, r, codeParse)
	case fkInvalid:
		w.invalidFrame(c, r, codeInvalidRequest)
	case fkBatch:
		if w.choose(BatchAnswer) == 0 {
			w.expect(c, &expect{kind: eResponse, what: "answer to a batch", idMode: idNullOrFrame, anyCode: true})
		}
	case fkRequest:
		if f := methods[r.method]; f != nil {
			w.at = at
			f(w, c, r)
			return
		}
		w.fail(c, r, codeMethodNotFound) // §2.3
	}
}

// invalidFrame is §1.4: SHOULD answer with id null (or the frame's id), COMPAT: nothing.
func (w *world) invalidFrame(c Conn, r *request, code int) {
	if w.choose(InvalidFrameAnswer) != 0 {
		return
	}
	e := &expect{kind: eResponse, what: "answer to an invalid frame", idMode: idNullOrFrame, code: code}
	if r.hasID && r.idValid {
		e.id = r.id
	}
	w.expect(c, e)
}

// fail answers r with an error; a notification gets nothing, or (COMPAT) the error without id.
func (w *world) fail(c Conn, r *request, code int) { w.failWith(c, r, code, false) }

func (w *world) failWith(c Conn, r *request, code int, closeConn bool) {
	e := &expect{kind: eResponse, what: r.what(), idMode: idExact, id: r.id, code: code, closeConn: closeConn}
	if r.notification() {
		e.idMode = idAbsentOrNull
		if w.choose(NotificationError) == 0 {
			e = nil
		}
	}
	if e != nil {
		w.expect(c, e)
	}
	if closeConn { // §2.5: the relay closes the connection right after that frame
		w.expect(c, &expect{kind: eClosed, what: "close after close-connection"})
		cs := w.conns[c]
		cs.ended = true
		if w.involvedAnywhere(c) {
			w.pending = append(w.pending, c)
		}
		if _, ok := w.m.closedAt[c]; !ok {
			w.m.closedAt[c] = w.at
		}
	}
}

// ok answers r with result; nil is a void method's answer (§2.2). Notifications get nothing.
func (w *world) ok(c Conn, r *request, result *tmpl) {
	if r.notification() {
		return
	}
	e := &expect{kind: eResponse, what: r.what(), idMode: idExact, id: r.id, result: result}
	if result == nil {
		e.result = lit(nil)
		e.omitted = w.choose(VoidResult) == 1
	}
	w.expect(c, e)
}

// event queues an event to each connection of to, in order.
func (w *world) event(to []Conn, name string, payload *tmpl) {
	for _, c := range to {
		w.expect(c, &expect{kind: eEvent, event: name, payload: payload})
	}
}

func (w *world) observable(c Conn) bool {
	cs := w.conns[c]
	return cs != nil && cs.open && !cs.ended
}

// lookupGroup finds the group a request names.
func (w *world) lookupGroup(u uuid.UUID) *group {
	h, ok := w.m.handleOf[u]
	if !ok {
		return nil
	}
	return w.groups[h]
}

// lookupSession finds a session of a group the caller belongs to (§4.3, §4.4); nil = -32603.
func (w *world) lookupSession(c Conn, gu, su uuid.UUID) (*group, *session) {
	g := w.lookupGroup(gu)
	if g == nil || !g.isMember(c) {
		return nil, nil
	}
	h, ok := w.m.handleOf[su]
	if !ok || g.sessions[h] == nil {
		return nil, nil
	}
	return g, g.sessions[h]
}

func groupObject(g *group) *tmpl {
	return object(field("uuid", handleT(g.h)),
		field("params", object(field("parties", number(int(g.params.parties))), field("threshold", number(int(g.params.threshold))))),
		field("label", str(g.label)))
}

func sessionObject(s *session) *tmpl {
	return object(field("uuid", handleT(s.h)), field("kind", str(s.kind)), field("value", lit(s.value)))
}

// §4.1
func (w *world) groupCreate(c Conn, r *request) {
	arr, err := positional(r.params, r.hasParams, 2, 2)
	var label string
	var p parameters
	if err == nil {
		label, err = asString(arr[0], "label")
	}
	if err == nil {
		p, err = asParameters(arr[1])
	}
	if err != nil {
		w.fail(c, r, codeInvalidParams)
		return
	}
	if p.parties <= 1 || p.threshold == 0 || p.threshold >= p.parties {
		w.fail(c, r, codeRule)
		return
	}
	g := &group{owner: w.gen, h: r.h, params: p, label: label, members: []Conn{c}, sessions: map[int]*session{}}
	w.groups[r.h] = g
	w.ok(c, r, handleT(r.h))
}

// §4.2
func (w *world) groupJoin(c Conn, r *request) {
	if !r.hasParams {
		w.fail(c, r, codeInvalidParams)
		return
	}
	u, err := asUUID(r.params, "group")
	if err != nil {
		w.fail(c, r, codeInvalidParams)
		return
	}
	g := w.lookupGroup(u)
	if g == nil {
		w.fail(c, r, codeRule)
		return
	}
	member := g.isMember(c)
	if g.full() && (!member || w.choose(RejoinFullGroup) == 1) {
		w.failWith(c, r, codeRule, true)
		return
	}
	if !member {
		g = w.mutGroup(g.h)
		g.members = append(g.members, c)
	}
	w.ok(c, r, groupObject(g))
}

// §4.3
func (w *world) sessionCreate(c Conn, r *request) {
	arr, err := positional(r.params, r.hasParams, 2, 3)
	var gu uuid.UUID
	var kind string
	if err == nil {
		gu, err = asUUID(arr[0], "group")
	}
	if err == nil {
		kind, err = asKind(arr[1])
	}
	if err == nil && len(arr) == 2 && w.choose(CreateWithoutValue) == 1 {
		err = bad("value missing")
	}
	if err != nil {
		w.fail(c, r, codeInvalidParams)
		return
	}
	var value any
	if len(arr) == 3 {
		value = arr[2]
	}
	g := w.lookupGroup(gu)
	if g == nil || !g.isMember(c) {
		w.fail(c, r, codeRule)
		return
	}
	g = w.mutGroup(g.h)
	s := &session{h: r.h, kind: kind, value: value, finished: map[uint16]bool{}}
	g.sessions[r.h] = s
	obj := sessionObject(s)
	w.ok(c, r, obj)
	if kind == kindKeygen {
		w.event(g.othersThan(c), "sessionCreate", obj)
	}
}

// sessionParams decodes [group, session, kind] (§4.4, §4.5) and finds the session.
func (w *world) sessionParams(c Conn, r *request, n int) (arr []any, kind string, g *group, s *session, ok bool) {
	arr, err := positional(r.params, r.hasParams, n, n)
	var gu, su uuid.UUID
	if err == nil {
		gu, su, err = groupAndSession(arr)
	}
	if err == nil {
		kind, err = asKind(arr[2])
	}
	if err == nil && n == 4 {
		if r.method == "Session.load" {
			_, err = asU16(arr[3], "number")
		} else {
			_, err = asMessage(arr[3])
		}
	}
	if err != nil {
		w.fail(c, r, codeInvalidParams)
		return
	}
	if r.method == "Session.load" && kind == kindSign {
		switch w.choose(LoadKindSign) {
		case 1:
			w.fail(c, r, codeInvalidParams)
			return
		case 2:
			w.fail(c, r, codeRule)
			return
		}
	}
	g, s = w.lookupSession(c, gu, su)
	if s == nil {
		w.fail(c, r, codeRule)
		return
	}
	return arr, kind, g, s, true
}

// §4.4
func (w *world) sessionJoin(c Conn, r *request) {
	if _, _, _, s, ok := w.sessionParams(c, r, 3); ok {
		w.ok(c, r, sessionObject(s))
	}
}

// requiredCount is §4.5: the count at which the signup/load event fires, and whether it comes from
// the kind in the params (COMPAT), in which case the event may fire again.
func (w *world) requiredCount(g *group, s *session, kind string) int {
	if kind != s.kind && w.choose(RequiredCountKind) == 1 {
		return required(kind, g.params)
	}
	return required(s.kind, g.params)
}

// fires decides whether a signup/load event fires now that the count reached the required one:
// exactly once per session (§4.5), or again when the count comes from the params' kind (COMPAT).
func (w *world) fires(sent bool) bool {
	return !sent || w.choose(RequiredCountKind) == 1
}

// partyReceivers lists the connections an event "to every party" goes to (except one).
func (w *world) partyReceivers(s *session, fanout Choice, except Conn) []Conn {
	perConn := false
	if w.multiHolder(s, except) {
		perConn = w.choose(fanout) == 1
	}
	return s.partyConns(perConn, except)
}

// multiHolder: an observable connection (not except) holds several numbers of s.
func (w *world) multiHolder(s *session, except Conn) bool {
	seen := map[Conn]bool{}
	for _, p := range s.parties {
		if p.c == except || !w.observable(p.c) {
			continue
		}
		if seen[p.c] {
			return true
		}
		seen[p.c] = true
	}
	return false
}

const noConn Conn = -1 << 30

// §4.5
func (w *world) sessionSignup(c Conn, r *request) {
	_, kind, g, s, ok := w.sessionParams(c, r, 3)
	if !ok {
		return
	}
	req := w.requiredCount(g, s, kind)
	if len(s.parties) >= req && w.choose(SignupBeyondRequired) == 0 {
		w.fail(c, r, codeRule)
		return
	}
	n := int(s.last) + 1
	if n <= 65535 && len(s.holders(uint16(n))) > 0 && w.choose(NextNumber) == 0 {
		for n <= 65535 && len(s.holders(uint16(n))) > 0 {
			n++
		}
	}
	if n > 65535 {
		w.fail(c, r, codeRule)
		return
	}
	g = w.mutGroup(g.h)
	s = g.sessions[s.h]
	s.parties = append(s.parties, party{uint16(n), c})
	s.last = uint16(n)
	w.ok(c, r, number(n))
	if len(s.parties) == req && w.fires(s.signupSent) {
		s.signupSent = true
		w.event(w.partyReceivers(s, FanoutSignup, noConn), "sessionSignup", handleT(s.h))
	}
}

// §4.6
func (w *world) sessionLoad(c Conn, r *request) {
	arr, kind, g, s, ok := w.sessionParams(c, r, 4)
	if !ok {
		return
	}
	n, _ := asU16(arr[3], "number")
	if n == 0 || n > g.params.parties || len(s.holders(n)) > 0 {
		w.fail(c, r, codeRule)
		return
	}
	req := w.requiredCount(g, s, kind)
	if len(s.parties) >= req && w.choose(LoadBeyondRequired) == 0 {
		w.fail(c, r, codeRule)
		return
	}
	g = w.mutGroup(g.h)
	s = g.sessions[s.h]
	s.parties = append(s.parties, party{n, c})
	s.last = n
	w.ok(c, r, number(int(n)))
	if len(s.parties) == req && w.fires(s.loadSent) {
		s.loadSent = true
		w.event(w.partyReceivers(s, FanoutLoad, noConn), "sessionLoad", handleT(s.h))
	}
}

// §4.7
func (w *world) sessionMessage(c Conn, r *request) {
	arr, _, _, s, ok := w.sessionParams(c, r, 4)
	if !ok {
		return
	}
	m, _ := asMessage(arr[3])
	payload := m.payload()
	if m.receiver != nil {
		holders := s.holders(*m.receiver)
		if len(holders) == 0 {
			w.fail(c, r, codeRule)
			return
		}
		w.ok(c, r, nil)
		to := holders[:1]
		if slices.ContainsFunc(holders[1:], w.observable) && w.choose(DuplicateHolder) == 1 {
			to = holders
		}
		w.event(to, "sessionMessage", payload)
		return
	}
	w.ok(c, r, nil)
	w.event(w.partyReceivers(s, FanoutBroadcast, c), "sessionMessage", payload)
}

// §4.8
func (w *world) sessionFinish(c Conn, r *request) {
	arr, err := positional(r.params, r.hasParams, 3, 3)
	var gu, su uuid.UUID
	var n uint16
	if err == nil {
		gu, su, err = groupAndSession(arr)
	}
	if err == nil {
		n, err = asU16(arr[2], "number")
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
	holders := s.holders(n)
	mine := len(holders) > 0 && holders[0] == c
	if !mine && slices.Contains(holders, c) {
		mine = w.choose(DuplicateHolder) == 1
	}
	if !mine {
		w.fail(c, r, codeRule)
		return
	}
	g = w.mutGroup(g.h)
	s = g.sessions[s.h]
	s.finished[n] = true
	w.ok(c, r, nil)
	for _, p := range s.parties {
		if !s.finished[p.n] {
			return
		}
	}
	if s.closedSent && w.choose(RepeatedFinish) == 0 {
		return
	}
	s.closedSent = true
	var nums []*tmpl
	for _, x := range s.numbers() {
		nums = append(nums, number(int(x)))
	}
	w.event(w.partyReceivers(s, FanoutClosed, noConn), "sessionClosed", array(nums...))
}

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

// remove is §6.1: the relay processed the close of c — it leaves every group, a group left
// empty is deleted, and its party numbers are freed or (COMPAT) left in their sessions.
func (w *world) remove(c Conn) {
	for _, h := range slices.Sorted(maps.Keys(w.groups)) {
		g := w.groups[h]
		holds := false
		for _, s := range g.sessions {
			holds = holds || s.isParty(c)
		}
		if !g.isMember(c) && !holds {
			continue
		}
		g = w.mutGroup(h)
		g.members = slices.DeleteFunc(g.members, func(m Conn) bool { return m == c })
		if len(g.members) == 0 {
			delete(w.groups, h)
			continue
		}
		if !holds || w.choose(ClosedPartyNumbers) != 0 {
			continue
		}
		for _, s := range g.sessions {
			s.parties = slices.DeleteFunc(s.parties, func(p party) bool { return p.c == c })
			for n := range s.finished {
				if len(s.holders(n)) == 0 {
					delete(s.finished, n)
				}
			}
		}
	}
}
