package model

import (
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"
)

// The methods of §4, one function each (methods_group.go, methods_session.go,
// methods_notify.go). A function reads the world, decides (calling choose only where the
// protocol leaves the relay a choice that changes what happens), queues the frames every
// connection must receive, and changes the world. This file dispatches frames, answers them,
// finds what they name, and processes closes (§6.1).

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
