package model

import (
	"slices"

	"github.com/google/uuid"
)

// The session methods: Session.create, join, signup, load, message and finish (§4.3–§4.8).

func sessionObject(s *session) *tmpl {
	return object(field("uuid", handleT(s.h)), field("kind", str(s.kind)), field("value", lit(s.value)))
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
	s = w.addParty(c, r, g, s, uint16(n))
	w.fireAt(s, req, &s.signupSent, FanoutSignup, "sessionSignup")
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
	s = w.addParty(c, r, g, s, n)
	w.fireAt(s, req, &s.loadSent, FanoutLoad, "sessionLoad")
}

// addParty gives c party number n in session s of group g (§4.5, §4.6), answers r with it and
// returns the session as changed.
func (w *world) addParty(c Conn, r *request, g *group, s *session, n uint16) *session {
	g = w.mutGroup(g.h)
	s = g.sessions[s.h]
	s.parties = append(s.parties, party{n, c})
	s.last = n
	w.ok(c, r, number(int(n)))
	return s
}

// fireAt sends event to every party once the parties number req: once per session (*sent), or
// again when the count comes from the params' kind (COMPAT, fires).
func (w *world) fireAt(s *session, req int, sent *bool, fanout Choice, event string) {
	if len(s.parties) == req && w.fires(*sent) {
		*sent = true
		w.event(w.partyReceivers(s, fanout, noConn), event, handleT(s.h))
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
