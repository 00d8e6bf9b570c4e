package relay

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/google/uuid"

	"mpcrelay/relay/protocol"
)

// errTooManySessions is the relay's own limit (Config.MaxSessions), not a rule of the original.
func errTooManySessions(limit int) *protocol.Error {
	return &protocol.Error{Code: protocol.CodeInternal, Message: fmt.Sprintf("the relay already holds its limit of %d sessions", limit)}
}

// reserveSession counts one more session, unless the relay already holds MaxSessions.
func (s *Server) reserveSession() bool {
	n := s.sessionCount.Add(1)
	if limit := s.cfg.MaxSessions; limit > 0 && n > int64(limit) {
		s.sessionCount.Add(-1)
		return false
	}
	return true
}

// uuidJSON is the JSON string of a uuid, the payload of sessionSignup and sessionLoad.
func uuidJSON(id uuid.UUID) json.RawMessage {
	b, _ := id.MarshalText() // never fails
	return json.RawMessage(`"` + string(b) + `"`)
}

// required is the party count at which sessionSignup/sessionLoad fire (§4.5). Strict: from the
// session's own kind, which cannot be spoofed by a request; COMPAT: from the kind in the params.
func (s *Server) required(g *group, sess *session, paramKind protocol.SessionKind) int {
	if s.cfg.Compat {
		return paramKind.Required(g.params)
	}
	return sess.kind.Required(g.params)
}

// sessionCreate is §4.3.
func (s *Server) sessionCreate(x *call) {
	p := &x.req.Params.SessionCreate
	if !x.paramsOK() {
		return
	}
	g, err := s.lookupGroup(x.c, p.GroupID, true)
	if err != nil {
		x.fail(err)
		return
	}
	defer g.mu.Unlock()
	if !s.reserveSession() {
		x.fail(errTooManySessions(s.cfg.MaxSessions))
		return
	}
	now := time.Now()
	// The value aliases the request frame, whose buffer is reused: the session keeps a copy.
	sess := &session{id: uuid.New(), kind: p.Kind, value: bytes.Clone(p.Value), finished: make(map[uint16]bool)}
	sess.touch(now)
	g.touch(now)
	g.sessions[sess.id] = sess
	s.metrics.sessions.Inc()
	obj := mustJSON(sess.object())
	x.ok(obj)
	if sess.kind == protocol.KindKeygen {
		// §4.3: every other member learns of a keygen session; sign sessions send nothing.
		x.emit(protocol.EventSessionCreate, obj, g.others(x.c))
	}
}

// sessionJoin is §4.4: it returns the session and does not make the caller a party.
func (s *Server) sessionJoin(x *call) {
	p := &x.req.Params.Session
	if !x.paramsOK() {
		return
	}
	g, sess, err := s.lookupSession(x.c, p.GroupID, p.SessionID, false)
	if err != nil {
		x.fail(err)
		return
	}
	defer g.mu.RUnlock()
	x.ok(mustJSON(sess.object()))
}

// sessionSignup is §4.5.
func (s *Server) sessionSignup(x *call) {
	p := &x.req.Params.Session
	if !x.paramsOK() {
		return
	}
	g, sess, err := s.lookupSession(x.c, p.GroupID, p.SessionID, true)
	if err != nil {
		x.fail(err)
		return
	}
	defer g.mu.Unlock()
	required := s.required(g, sess, p.Kind)
	// §4.5 SHOULD: refuse signups beyond the required count; COMPAT issues a number anyway.
	if !s.cfg.Compat && len(sess.parties) >= required {
		x.fail(protocol.ErrSessionFull(sess.id))
		return
	}
	// §4.5: one more than the last number issued or loaded. Strict skips numbers a
	// Session.load already claimed; COMPAT may issue a duplicate, as the original does.
	n := int(sess.last) + 1
	for !s.cfg.Compat && n <= math.MaxUint16 && sess.holder(uint16(n)) != nil {
		n++
	}
	if n > math.MaxUint16 {
		x.fail(protocol.ErrPartyOutOfRange())
		return
	}
	sess.parties = append(sess.parties, party{number: uint16(n), conn: x.c})
	sess.last = uint16(n)
	x.okValue(uint16(n))
	if len(sess.parties) == required && (s.cfg.Compat || !sess.signupSent) {
		sess.signupSent = true
		x.emit(protocol.EventSessionSignup, uuidJSON(sess.id), sess.partyConns())
	}
}

// sessionLoad is §4.6.
func (s *Server) sessionLoad(x *call) {
	p := &x.req.Params.SessionLoad
	if !x.paramsOK() {
		return
	}
	g, sess, err := s.lookupSession(x.c, p.GroupID, p.SessionID, true)
	if err != nil {
		x.fail(err)
		return
	}
	defer g.mu.Unlock()
	// §4.6: these rules, in this order.
	switch {
	case p.Number == 0:
		x.fail(protocol.ErrPartyZero())
		return
	case p.Number > g.params.Parties:
		x.fail(protocol.ErrPartyOutOfRange())
		return
	case sess.holder(p.Number) != nil:
		x.fail(protocol.ErrPartyTaken(sess.id))
		return
	}
	required := s.required(g, sess, p.Kind)
	// Strict, as for signups (§4.5 SHOULD): a complete session takes no extra party, so
	// sessionLoad stays exactly once and no stranger joins the rounds.
	if !s.cfg.Compat && len(sess.parties) >= required {
		x.fail(protocol.ErrSessionFull(sess.id))
		return
	}
	sess.parties = append(sess.parties, party{number: p.Number, conn: x.c})
	sess.last = p.Number
	x.okValue(p.Number)
	if len(sess.parties) == required && (s.cfg.Compat || !sess.loadSent) {
		sess.loadSent = true
		x.emit(protocol.EventSessionLoad, uuidJSON(sess.id), sess.partyConns())
	}
}

// sessionMessage is §4.7: route on receiver, never look into body.
func (s *Server) sessionMessage(x *call) {
	p := &x.req.Params.SessionMessage
	if !x.paramsOK() {
		return
	}
	// Built before taking the lock; the body goes out as it came in (§4.7).
	frame := outFrame{data: appendMessageEvent(&p.Message), kind: outEvent(protocol.EventSessionMessage)}
	g, sess, perr := s.lookupSession(x.c, p.GroupID, p.SessionID, false)
	if perr != nil {
		x.fail(perr)
		return
	}
	defer g.mu.RUnlock()
	if p.Message.Receiver != nil {
		to := sess.holder(*p.Message.Receiver)
		if to == nil {
			x.fail(protocol.ErrReceiverNotFound(*p.Message.Receiver))
			return
		}
		x.ok(nil)
		x.deliver(frame, []member{to})
		return
	}
	x.ok(nil)
	var buf [8]member // a session's parties: no allocation for up to 8
	others := buf[:0]
	for _, pt := range sess.parties {
		if pt.conn != member(x.c) {
			others = append(others, pt.conn)
		}
	}
	x.deliver(frame, others)
}

// appendMessageEvent writes the sessionMessage event of m without reflection: round, sender,
// receiver (null when absent, §3.5 COMPAT), uuid, and the body bytes exactly as the sender
// wrote them (valid JSON: the decoder checked it), never re-encoded (§4.7).
func appendMessageEvent(m *protocol.Message) []byte {
	b := make([]byte, 0, len(m.Body)+160)
	b = append(b, `{"jsonrpc":"2.0","id":0,"result":["sessionMessage",{"round":`...)
	b = strconv.AppendUint(b, uint64(m.Round), 10)
	b = append(b, `,"sender":`...)
	b = strconv.AppendUint(b, uint64(m.Sender), 10)
	b = append(b, `,"receiver":`...)
	if m.Receiver == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendUint(b, uint64(*m.Receiver), 10)
	}
	b = append(b, `,"uuid":"`...)
	b = appendUUID(b, m.UUID)
	b = append(b, `","body":`...)
	b = append(b, m.Body...)
	return append(b, "}]}"...)
}

// appendUUID writes id in its canonical form, as uuid.UUID.String does, without a string.
func appendUUID(b []byte, id uuid.UUID) []byte {
	n := len(b)
	b = append(b, "00000000-0000-0000-0000-000000000000"...)
	hex.Encode(b[n:n+8], id[0:4])
	hex.Encode(b[n+9:n+13], id[4:6])
	hex.Encode(b[n+14:n+18], id[6:8])
	hex.Encode(b[n+19:n+23], id[8:10])
	hex.Encode(b[n+24:n+36], id[10:16])
	return b
}

// sessionFinish is §4.8.
func (s *Server) sessionFinish(x *call) {
	p := &x.req.Params.SessionFinish
	if !x.paramsOK() {
		return
	}
	g, sess, err := s.lookupSession(x.c, p.GroupID, p.SessionID, true)
	if err != nil {
		x.fail(err)
		return
	}
	defer g.mu.Unlock()
	switch h := sess.holder(p.Number); {
	case h == nil:
		x.fail(protocol.ErrPartyNotFound(p.Number))
		return
	case h != x.c:
		x.fail(protocol.ErrPartyNotYours(p.Number))
		return
	}
	sess.finished[p.Number] = true
	x.ok(nil)
	for _, pt := range sess.parties {
		if !sess.finished[pt.number] {
			return
		}
	}
	// §4.8: once per session; COMPAT sends it again on a repeated finish.
	if s.cfg.Compat || !sess.closedSent {
		sess.closedSent = true
		x.emit(protocol.EventSessionClosed, mustJSON(sess.finishedNumbers()), sess.partyConns())
	}
}
