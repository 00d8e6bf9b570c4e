// Package breakage builds deliberately broken relays out of a correct one: each Breakage is a
// set of faultproxy rules that makes the proxied relay violate one requirement of PROTOCOL.md.
// The conformance self-test runs the suite against each and checks that some case catches it.
package breakage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"mpcrelay/faultproxy"
	"mpcrelay/relay/protocol"
)

// Breakage is one way of breaking a relay. Write new ones with keyed fields.
type Breakage struct {
	Name        string
	Description string
	// Rules returns fresh rules (with fresh state) for one proxy.
	Rules func() []faultproxy.Rule
	// Rule is the id of the conformance rule (conformance.Rules, "4.5.event-exactly-once") that
	// this breakage violates and nothing else; the self-test requires a case listed for that
	// rule to catch it. Empty for breakages not dedicated to one rule.
	Rule string
	// Cases, when set, are the only cases the self-test runs against this breakage (case ids or
	// sections, as --focus takes them): heavy breakages that only crypto or slow cases reveal.
	Cases []string
}

// All lists the breakages the self-test runs against every case that is neither crypto nor
// slow, and must see caught.
var All = []Breakage{
	{Name: "signup-event-early", Description: "§4.5 sessionSignup sent to a party one signup before the required count", Rule: "4.5.event-at-required-count",
		Rules: signupEarly},
	{Name: "signup-event-never", Description: "§4.5 sessionSignup never sent", Rule: "4.5.event-at-required-count",
		Rules: only(faultproxy.Drop("drop", faultproxy.ToClient, faultproxy.Event(protocol.EventSessionSignup)))},
	{Name: "signup-event-twice", Description: "§4.5 sessionSignup sent twice", Rule: "4.5.event-exactly-once",
		Rules: only(faultproxy.Duplicate("dup", faultproxy.ToClient, faultproxy.Event(protocol.EventSessionSignup)))},
	{Name: "signup-event-not-to-caller", Description: "§4.5 sessionSignup not sent to the party whose signup completed the session", Rule: "4.5.event-to-every-party",
		Rules: signupNotToCaller},
	{Name: "load-accepts-zero", Description: "§4.6 Session.load of number 0 accepted", Rule: "4.6.number-not-zero",
		Rules: loadAccepts(func(n uint16, g *faultproxy.TrackedGroup, s *faultproxy.TrackedSession) bool { return n == 0 })},
	{Name: "load-accepts-out-of-range", Description: "§4.6 Session.load of a number above parties accepted", Rule: "4.6.number-in-range",
		Rules: loadAccepts(func(n uint16, g *faultproxy.TrackedGroup, s *faultproxy.TrackedSession) bool {
			return g != nil && n > g.Params.Parties
		})},
	{Name: "load-accepts-taken", Description: "§4.6 Session.load of a number already held accepted", Rule: "4.6.number-not-taken",
		Rules: loadAccepts(func(n uint16, g *faultproxy.TrackedGroup, s *faultproxy.TrackedSession) bool {
			return s != nil && s.Parties[n] != nil
		})},
	{Name: "broadcast-echoed", Description: "§4.7 a broadcast echoed to its sender", Rule: "4.7.broadcast-not-echoed",
		Rules: broadcastEchoed},
	{Name: "broadcast-leaked", Description: "§4.7 a broadcast copied to group members that are not parties", Rule: "4.7.non-parties-receive-nothing",
		Rules: broadcastLeaked},
	{Name: "p2p-misrouted", Description: "§4.7 a peer-to-peer message delivered to the wrong party", Rule: "4.7.p2p-to-receiver-only",
		Rules: p2pMisrouted},
	{Name: "closed-early", Description: "§4.8 sessionClosed sent before every party finished", Rule: "4.8.closed-when-all-finished",
		Rules: closedEarly},
	{Name: "closed-never", Description: "§4.8 sessionClosed never sent", Rule: "4.8.closed-when-all-finished",
		Rules: only(faultproxy.Drop("drop", faultproxy.ToClient, faultproxy.Event(protocol.EventSessionClosed)))},
	{Name: "finish-for-another-accepted", Description: "§4.8 finishing another connection's party number accepted", Rule: "4.8.finish-for-another-refused",
		Rules: finishForAnother},
	{Name: "proposal-to-sender", Description: "§4.9 notifyProposal sent back to its sender", Rule: "4.9.proposal-not-to-sender",
		Rules: proposalToSender},
	{Name: "signed-to-signers", Description: "§4.10 notifySigned sent to the parties of the session", Rule: "4.10.signed-not-to-parties",
		Rules: signedToSigners},
	{Name: "full-group-stays-open", Description: "§4.2 a full group's refusal does not close the connection", Rule: "2.5.close-connection-closes",
		Rules: fullGroupStaysOpen},
	{Name: "event-id-not-zero", Description: "§2.4 events carry an id other than 0", Rule: "2.4.event-envelope",
		Rules: only(faultproxy.Rewrite("event id", faultproxy.ToClient, faultproxy.Event(""), func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"id":0`), []byte(`"id":424242`), 1)
		}))},
	{Name: "event-before-response", Description: "§1.3 an event written before the response of the request that triggered it", Rule: "1.3.response-before-event",
		Rules: only(faultproxy.Reorder("hold", faultproxy.ToClient, faultproxy.All(
			faultproxy.ResponseTo(protocol.MethodSessionSignup)), 30*time.Millisecond))},
	{Name: "wrong-error-codes", Description: "§2.3 rule errors answered with -32000 instead of -32603", Rule: "2.3.rule-errors-internal",
		Rules: recode(protocol.CodeInternal, -32000)},
	{Name: "body-altered", Description: "§4.7 a message body altered in transit", Rule: "4.7.body-equal-json",
		Rules: only(faultproxy.Rule{Name: "alter", Dir: faultproxy.ToClient, Match: faultproxy.Event(protocol.EventSessionMessage), Apply: alterBody})},
	{Name: "invalid-params-as-internal", Description: "§2.3 params that do not decode answered -32603 instead of -32602", Rule: "2.3.invalid-params",
		Rules: recode(protocol.CodeInvalidParams, protocol.CodeInternal)},
	{Name: "unknown-method-as-internal", Description: "§2.3 an unknown method answered -32603 instead of -32601", Rule: "2.3.unknown-method",
		Rules: recode(protocol.CodeMethodNotFound, protocol.CodeInternal)},
	{Name: "binary-frame-closes", Description: "§1.2 a binary frame closes the connection", Rule: "1.2.binary-frame-ignored",
		Rules: only(faultproxy.Rule{Name: "close", Dir: faultproxy.ToRelay,
			Match: func(f *faultproxy.Frame) bool { return f.Binary }, Apply: func(f *faultproxy.Frame) { f.Close(1003, "binary frames not accepted") }})},
	{Name: "garbage-closes", Description: "§1.4 a frame that is not JSON closes the connection", Rule: "1.4.garbage-keeps-connection",
		Rules: only(faultproxy.Rule{Name: "close", Dir: faultproxy.ToRelay,
			Match: func(f *faultproxy.Frame) bool { return !f.Binary && !json.Valid(f.Data) }, Apply: func(f *faultproxy.Frame) { f.Close(1007, "invalid JSON") }})},
	{Name: "signup-numbers-from-two", Description: "§4.5 party numbers issued from 2 instead of 1", Rule: "4.5.numbers-from-one",
		Rules: numberPlusOne(protocol.MethodSessionSignup)},
	{Name: "load-returns-other-number", Description: "§4.6 Session.load answers a number other than the one claimed", Rule: "4.6.returns-number",
		Rules: numberPlusOne(protocol.MethodSessionLoad)},
	{Name: "create-drops-session-value", Description: "§3.3 Session.create returns the session without its value", Rule: "3.3.session-object",
		Rules: sessionValueDropped(protocol.MethodSessionCreate)},
	{Name: "responses-reordered", Description: "§1.3 error responses held back, so later requests are answered first", Rule: "1.3.requests-in-order",
		Rules: only(faultproxy.Reorder("hold", faultproxy.ToClient, faultproxy.All(
			faultproxy.ResponseTo(protocol.MethodGroupCreate), func(f *faultproxy.Frame) bool { return f.RPC.Error != nil }), 30*time.Millisecond))},
	{Name: "success-with-error-member", Description: `§2.2 success responses also carry "error":null`, Rule: "2.2.success-envelope",
		Rules: only(faultproxy.Rewrite("error", faultproxy.ToClient, faultproxy.All(faultproxy.ResponseTo(protocol.MethodGroupCreate), ok), func(b []byte) []byte {
			return bytes.Replace(b, []byte(`{"jsonrpc":"2.0",`), []byte(`{"jsonrpc":"2.0","error":null,`), 1)
		}))},
	{Name: "join-drops-session-value", Description: "§4.4 Session.join returns the session without its value", Rule: "4.4.join-returns-session",
		Rules: sessionValueDropped(protocol.MethodSessionJoin)},
	{Name: "join-alters-group", Description: "§4.2 Group.join returns a group object with another label", Rule: "4.2.join-returns-group",
		Rules: only(faultproxy.Rule{Name: "label", Dir: faultproxy.ToClient,
			Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodGroupJoin), ok), Apply: func(f *faultproxy.Frame) {
				var g protocol.Group
				if json.Unmarshal(f.RPC.Result, &g) == nil {
					g.Label += " (altered)"
					success(f, g)
				}
			}})},
	{Name: "big-frames-refused", Description: "§4.7 frames over 64 KiB refused (connection closed with 1009)", Rule: "4.7.frame-limit-1mib",
		Rules: only(faultproxy.Rule{Name: "limit", Dir: faultproxy.ToRelay,
			Match: func(f *faultproxy.Frame) bool { return len(f.Data) > 64<<10 }, Apply: func(f *faultproxy.Frame) { f.Close(1009, "message too big") }})},
}

func only(rules ...faultproxy.Rule) func() []faultproxy.Rule {
	return func() []faultproxy.Rule { return rules }
}

func event(name string, payload any) []byte {
	b, _ := protocol.EncodeEvent(name, payload)
	return b
}

// success rewrites an error response into a success with result (nil → "result":null).
func success(f *faultproxy.Frame, result any) {
	res := json.RawMessage("null")
	if result != nil {
		res, _ = json.Marshal(result)
	}
	b, _ := protocol.Response{ID: f.RPC.ID, Result: res}.MarshalJSON()
	f.Replace(b)
}

func ok(f *faultproxy.Frame) bool { return f.RPC.Error == nil }

// recode answers with error code to where the relay answers from.
func recode(from, to int) func() []faultproxy.Rule {
	was, is := []byte(fmt.Sprintf(`"code":%d`, from)), []byte(fmt.Sprintf(`"code":%d`, to))
	return only(faultproxy.Rewrite("code", faultproxy.ToClient, faultproxy.ErrorResponse(from), func(b []byte) []byte {
		return bytes.Replace(b, was, is, 1)
	}))
}

// numberPlusOne answers method (Session.signup, Session.load) with the party number plus one.
func numberPlusOne(method string) func() []faultproxy.Rule {
	return only(faultproxy.Rule{Name: "shift", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(method), ok), Apply: func(f *faultproxy.Frame) {
		var n uint16
		if json.Unmarshal(f.RPC.Result, &n) == nil {
			success(f, n+1)
		}
	}})
}

// sessionValueDropped answers method (Session.create, Session.join) with the session object
// without its value.
func sessionValueDropped(method string) func() []faultproxy.Rule {
	return only(faultproxy.Rule{Name: "value", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(method), ok), Apply: func(f *faultproxy.Frame) {
		var sess protocol.Session
		if json.Unmarshal(f.RPC.Result, &sess) == nil {
			sess.Value = nil
			success(f, sess)
		}
	}})
}

// messageEvent decodes a sessionMessage event and finds its session in tr (nil when unknown).
func messageEvent(tr *faultproxy.Tracker, f *faultproxy.Frame) (m protocol.Message, s *faultproxy.TrackedSession, decoded bool) {
	if json.Unmarshal(f.RPC.Payload, &m) != nil {
		return m, nil, false
	}
	return m, tr.Session(m.UUID), true
}

// joinsParty matches the successful answers to Session.signup and Session.load: a party
// number taken.
func joinsParty(f *faultproxy.Frame) bool {
	return ok(f) && (f.RPC.IsResponseTo(protocol.MethodSessionSignup) || f.RPC.IsResponseTo(protocol.MethodSessionLoad))
}

// partySession is the session a Session.signup ([group, session, kind]) or Session.load
// ([group, session, kind, number]) request names.
func partySession(params json.RawMessage) (uuid.UUID, bool) {
	var p protocol.SessionParams
	if json.Unmarshal(params, &p) == nil {
		return p.SessionID, true
	}
	var lp protocol.SessionLoadParams
	if json.Unmarshal(params, &lp) == nil {
		return lp.SessionID, true
	}
	return uuid.Nil, false
}

func signupEarly() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	return []faultproxy.Rule{tr.Rule(), {Name: "early", Dir: faultproxy.ToClient, Match: faultproxy.ResponseTo(protocol.MethodSessionSignup), Apply: func(f *faultproxy.Frame) {
		var p protocol.SessionParams
		if !ok(f) || json.Unmarshal(f.RPC.Params, &p) != nil {
			return
		}
		s := tr.Session(p.SessionID)
		if req := tr.Required(s); req > 1 && len(s.Parties) == req-1 {
			f.Inject(f.Conn, faultproxy.ToClient, event(protocol.EventSessionSignup, p.SessionID))
		}
	}}}
}

func signupNotToCaller() []faultproxy.Rule {
	last := map[uuid.UUID]*faultproxy.Conn{}
	return []faultproxy.Rule{
		{Name: "remember", Dir: faultproxy.ToClient, Match: faultproxy.ResponseTo(protocol.MethodSessionSignup), Apply: func(f *faultproxy.Frame) {
			var p protocol.SessionParams
			if ok(f) && json.Unmarshal(f.RPC.Params, &p) == nil {
				last[p.SessionID] = f.Conn
			}
		}},
		{Name: "drop", Dir: faultproxy.ToClient, Match: faultproxy.Event(protocol.EventSessionSignup), Apply: func(f *faultproxy.Frame) {
			var id uuid.UUID
			if json.Unmarshal(f.RPC.Payload, &id) == nil && last[id] == f.Conn {
				f.Drop()
			}
		}},
	}
}

func loadAccepts(refusedWrongly func(n uint16, g *faultproxy.TrackedGroup, s *faultproxy.TrackedSession) bool) func() []faultproxy.Rule {
	return func() []faultproxy.Rule {
		tr := faultproxy.NewTracker()
		return []faultproxy.Rule{tr.Rule(), {Name: "accept", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodSessionLoad), faultproxy.ErrorResponse(0)), Apply: func(f *faultproxy.Frame) {
			var p protocol.SessionLoadParams
			if json.Unmarshal(f.RPC.Params, &p) != nil {
				return
			}
			if refusedWrongly(p.Number, tr.Group(p.GroupID), tr.Session(p.SessionID)) {
				success(f, p.Number)
			}
		}}}
	}
}

func broadcastEchoed() []faultproxy.Rule {
	return []faultproxy.Rule{{Name: "echo", Dir: faultproxy.ToClient, Match: faultproxy.ResponseTo(protocol.MethodSessionMessage), Apply: func(f *faultproxy.Frame) {
		var p protocol.SessionMessageParams
		if ok(f) && json.Unmarshal(f.RPC.Params, &p) == nil && p.Message.Broadcast() {
			f.Inject(f.Conn, faultproxy.ToClient, event(protocol.EventSessionMessage, p.Message))
		}
	}}}
}

func broadcastLeaked() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	return []faultproxy.Rule{tr.Rule(), {Name: "leak", Dir: faultproxy.ToClient, Match: faultproxy.ResponseTo(protocol.MethodSessionMessage), Apply: func(f *faultproxy.Frame) {
		var p protocol.SessionMessageParams
		if !ok(f) || json.Unmarshal(f.RPC.Params, &p) != nil || !p.Message.Broadcast() {
			return
		}
		if s := tr.Session(p.SessionID); s != nil {
			for _, c := range tr.NonPartyMembers(s) {
				f.Inject(c, faultproxy.ToClient, event(protocol.EventSessionMessage, p.Message))
			}
		}
	}}}
}

func p2pMisrouted() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	return []faultproxy.Rule{tr.Rule(), {Name: "misroute", Dir: faultproxy.ToClient, Match: faultproxy.Event(protocol.EventSessionMessage), Apply: func(f *faultproxy.Frame) {
		m, s, decoded := messageEvent(tr, f)
		if !decoded || m.Broadcast() || s == nil {
			return
		}
		var wrong *faultproxy.Conn
		for _, c := range s.PartyConns() {
			if c != f.Conn && (wrong == nil || wrong == s.Parties[m.Sender]) {
				wrong = c
			}
		}
		if wrong != nil {
			f.Drop()
			f.Inject(wrong, faultproxy.ToClient, f.Data)
		}
	}}}
}

func closedEarly() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	return []faultproxy.Rule{tr.Rule(), {Name: "early", Dir: faultproxy.ToClient, Match: faultproxy.ResponseTo(protocol.MethodSessionFinish), Apply: func(f *faultproxy.Frame) {
		var p protocol.SessionFinishParams
		if !ok(f) || json.Unmarshal(f.RPC.Params, &p) != nil {
			return
		}
		if s := tr.Session(p.SessionID); s != nil && len(s.Finished) < len(s.Parties) {
			f.Inject(f.Conn, faultproxy.ToClient, event(protocol.EventSessionClosed, s.Numbers()))
		}
	}}}
}

func finishForAnother() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	return []faultproxy.Rule{tr.Rule(), {Name: "accept", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodSessionFinish), faultproxy.ErrorResponse(0)), Apply: func(f *faultproxy.Frame) {
		var p protocol.SessionFinishParams
		if json.Unmarshal(f.RPC.Params, &p) != nil {
			return
		}
		if s := tr.Session(p.SessionID); s != nil && s.Parties[p.Number] != nil && s.Parties[p.Number] != f.Conn {
			success(f, nil)
		}
	}}}
}

func proposalToSender() []faultproxy.Rule {
	return []faultproxy.Rule{{Name: "echo", Dir: faultproxy.ToClient, Match: faultproxy.ResponseTo(protocol.MethodNotifyProposal), Apply: func(f *faultproxy.Frame) {
		var p protocol.NotifyProposalParams
		if ok(f) && json.Unmarshal(f.RPC.Params, &p) == nil {
			f.Inject(f.Conn, faultproxy.ToClient, event(protocol.EventNotifyProposal, protocol.Proposal{SessionID: p.SessionID.String(), ProposalID: p.ProposalID, Message: p.Message}))
		}
	}}}
}

func signedToSigners() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	return []faultproxy.Rule{tr.Rule(), {Name: "signers", Dir: faultproxy.ToClient, Match: faultproxy.ResponseTo(protocol.MethodNotifySigned), Apply: func(f *faultproxy.Frame) {
		var p protocol.NotifySignedParams
		if !ok(f) || json.Unmarshal(f.RPC.Params, &p) != nil {
			return
		}
		if s := tr.Session(p.SessionID); s != nil {
			for _, c := range s.PartyConns() {
				f.Inject(c, faultproxy.ToClient, event(protocol.EventNotifySigned, p.Value))
			}
		}
	}}}
}

func fullGroupStaysOpen() []faultproxy.Rule {
	return []faultproxy.Rule{{Name: "keep", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodGroupJoin), faultproxy.ErrorResponse(0)), Apply: func(f *faultproxy.Frame) {
		if f.RPC.Error.ClosesConnection() {
			f.Conn.KeepClientOpen()
		}
	}}}
}

func alterBody(f *faultproxy.Frame) {
	var m protocol.Message
	if json.Unmarshal(f.RPC.Payload, &m) != nil {
		return
	}
	if s := string(m.Body); strings.HasPrefix(s, `"`) && len(s) > 2 {
		m.Body = json.RawMessage(s[:len(s)-2] + `?"`) // one character changed, same size
	} else {
		m.Body = json.RawMessage(`{"altered":` + s + `}`)
	}
	f.Replace(event(protocol.EventSessionMessage, m))
}
