// Package breakage builds deliberately broken relays out of a correct one: each Breakage is a
// set of faultproxy rules that makes the proxied relay violate one requirement of PROTOCOL.md.
// The conformance self-test runs the suite against each and checks that some case catches it.
package breakage

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"

	"github.com/google/uuid"

	"mpcrelay/faultproxy"
	"mpcrelay/relay/protocol"
)

// Breakage is one way of breaking a relay.
type Breakage struct {
	Name        string
	Description string
	// Rules returns fresh rules (with fresh state) for one proxy.
	Rules func() []faultproxy.Rule
}

// All lists the breakages the self-test must see caught.
var All = []Breakage{
	{"signup-event-early", "§4.5 sessionSignup sent to a party one signup before the required count", signupEarly},
	{"signup-event-never", "§4.5 sessionSignup never sent", only(faultproxy.Drop("drop", faultproxy.ToClient, faultproxy.Event(protocol.EventSessionSignup)))},
	{"signup-event-twice", "§4.5 sessionSignup sent twice", only(faultproxy.Duplicate("dup", faultproxy.ToClient, faultproxy.Event(protocol.EventSessionSignup)))},
	{"signup-event-not-to-caller", "§4.5 sessionSignup not sent to the party whose signup completed the session", signupNotToCaller},
	{"load-accepts-zero", "§4.6 Session.load of number 0 accepted", loadAccepts(func(n uint16, g *faultproxy.TrackedGroup, s *faultproxy.TrackedSession) bool { return n == 0 })},
	{"load-accepts-out-of-range", "§4.6 Session.load of a number above parties accepted", loadAccepts(func(n uint16, g *faultproxy.TrackedGroup, s *faultproxy.TrackedSession) bool {
		return g != nil && n > g.Params.Parties
	})},
	{"load-accepts-taken", "§4.6 Session.load of a number already held accepted", loadAccepts(func(n uint16, g *faultproxy.TrackedGroup, s *faultproxy.TrackedSession) bool {
		return s != nil && s.Parties[n] != nil
	})},
	{"broadcast-echoed", "§4.7 a broadcast echoed to its sender", broadcastEchoed},
	{"broadcast-leaked", "§4.7 a broadcast copied to group members that are not parties", broadcastLeaked},
	{"p2p-misrouted", "§4.7 a peer-to-peer message delivered to the wrong party", p2pMisrouted},
	{"closed-early", "§4.8 sessionClosed sent before every party finished", closedEarly},
	{"closed-never", "§4.8 sessionClosed never sent", only(faultproxy.Drop("drop", faultproxy.ToClient, faultproxy.Event(protocol.EventSessionClosed)))},
	{"finish-for-another-accepted", "§4.8 finishing another connection's party number accepted", finishForAnother},
	{"proposal-to-sender", "§4.9 notifyProposal sent back to its sender", proposalToSender},
	{"signed-to-signers", "§4.10 notifySigned sent to the parties of the session", signedToSigners},
	{"full-group-stays-open", "§4.2 a full group's refusal does not close the connection", fullGroupStaysOpen},
	{"event-id-not-zero", "§2.4 events carry an id other than 0", only(faultproxy.Rewrite("event id", faultproxy.ToClient, faultproxy.Event(""), func(b []byte) []byte {
		return bytes.Replace(b, []byte(`"id":0`), []byte(`"id":424242`), 1)
	}))},
	{"event-before-response", "§1.3 an event written before the response of the request that triggered it", only(faultproxy.Reorder("hold", faultproxy.ToClient, faultproxy.All(
		faultproxy.ResponseTo(protocol.MethodSessionSignup)), 30*time.Millisecond))},
	{"wrong-error-codes", "§2.3 rule errors answered with -32000 instead of -32603", only(faultproxy.Rewrite("code", faultproxy.ToClient, faultproxy.ErrorResponse(protocol.CodeInternal), func(b []byte) []byte {
		return bytes.Replace(b, []byte(`"code":-32603`), []byte(`"code":-32000`), 1)
	}))},
	{"body-altered", "§4.7 a message body altered in transit", only(faultproxy.Rule{Name: "alter", Dir: faultproxy.ToClient, Match: faultproxy.Event(protocol.EventSessionMessage), Apply: alterBody})},
	{"invalid-params-as-internal", "§2.3 params that do not decode answered -32603 instead of -32602", only(faultproxy.Rewrite("code", faultproxy.ToClient, faultproxy.ErrorResponse(protocol.CodeInvalidParams), func(b []byte) []byte {
		return bytes.Replace(b, []byte(`"code":-32602`), []byte(`"code":-32603`), 1)
	}))},
	{"unknown-method-as-internal", "§2.3 an unknown method answered -32603 instead of -32601", only(faultproxy.Rewrite("code", faultproxy.ToClient, faultproxy.ErrorResponse(protocol.CodeMethodNotFound), func(b []byte) []byte {
		return bytes.Replace(b, []byte(`"code":-32601`), []byte(`"code":-32603`), 1)
	}))},
	{"binary-frame-closes", "§1.2 a binary frame closes the connection", only(faultproxy.Rule{Name: "close", Dir: faultproxy.ToRelay,
		Match: func(f *faultproxy.Frame) bool { return f.Binary }, Apply: func(f *faultproxy.Frame) { f.Close(1003, "binary frames not accepted") }})},
	{"garbage-closes", "§1.4 a frame that is not JSON closes the connection", only(faultproxy.Rule{Name: "close", Dir: faultproxy.ToRelay,
		Match: func(f *faultproxy.Frame) bool { return !f.Binary && !json.Valid(f.Data) }, Apply: func(f *faultproxy.Frame) { f.Close(1007, "invalid JSON") }})},
	{"signup-numbers-from-two", "§4.5 party numbers issued from 2 instead of 1", only(faultproxy.Rule{Name: "shift", Dir: faultproxy.ToClient,
		Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodSessionSignup), ok), Apply: func(f *faultproxy.Frame) {
			var n uint16
			if json.Unmarshal(f.RPC.Result, &n) == nil {
				success(f, n+1)
			}
		}})},
	{"load-returns-other-number", "§4.6 Session.load answers a number other than the one claimed", only(faultproxy.Rule{Name: "shift", Dir: faultproxy.ToClient,
		Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodSessionLoad), ok), Apply: func(f *faultproxy.Frame) {
			var n uint16
			if json.Unmarshal(f.RPC.Result, &n) == nil {
				success(f, n+1)
			}
		}})},
	{"create-drops-session-value", "§3.3 Session.create returns the session without its value", only(faultproxy.Rule{Name: "value", Dir: faultproxy.ToClient,
		Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodSessionCreate), ok), Apply: func(f *faultproxy.Frame) {
			var sess protocol.Session
			if json.Unmarshal(f.RPC.Result, &sess) == nil {
				sess.Value = nil
				success(f, sess)
			}
		}})},
	{"responses-reordered", "§1.3 error responses held back, so later requests are answered first", only(faultproxy.Reorder("hold", faultproxy.ToClient, faultproxy.All(
		faultproxy.ResponseTo(protocol.MethodGroupCreate), func(f *faultproxy.Frame) bool { return f.RPC.Error != nil }), 30*time.Millisecond))},
	{"success-with-error-member", `§2.2 success responses also carry "error":null`, only(faultproxy.Rewrite("error", faultproxy.ToClient, faultproxy.All(faultproxy.ResponseTo(protocol.MethodGroupCreate), ok), func(b []byte) []byte {
		return bytes.Replace(b, []byte(`{"jsonrpc":"2.0",`), []byte(`{"jsonrpc":"2.0","error":null,`), 1)
	}))},
	{"join-drops-session-value", "§4.4 Session.join returns the session without its value", only(faultproxy.Rule{Name: "value", Dir: faultproxy.ToClient,
		Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodSessionJoin), ok), Apply: func(f *faultproxy.Frame) {
			var sess protocol.Session
			if json.Unmarshal(f.RPC.Result, &sess) == nil {
				sess.Value = nil
				success(f, sess)
			}
		}})},
	{"join-alters-group", "§4.2 Group.join returns a group object with another label", only(faultproxy.Rule{Name: "label", Dir: faultproxy.ToClient,
		Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodGroupJoin), ok), Apply: func(f *faultproxy.Frame) {
			var g protocol.Group
			if json.Unmarshal(f.RPC.Result, &g) == nil {
				g.Label += " (altered)"
				success(f, g)
			}
		}})},
	{"big-frames-refused", "§4.7 frames over 64 KiB refused (connection closed with 1009)", only(faultproxy.Rule{Name: "limit", Dir: faultproxy.ToRelay,
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
		var m protocol.Message
		if json.Unmarshal(f.RPC.Payload, &m) != nil || m.Broadcast() {
			return
		}
		s := tr.Session(m.UUID)
		if s == nil {
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
