package breakage

import (
	"encoding/json"
	"slices"

	"github.com/google/uuid"

	"mpcrelay/faultproxy"
	"mpcrelay/relay/protocol"
)

// Dedicated lists breakages aimed at one rule each (Rule), for the MUST rules no breakage of All
// is dedicated to. The self-test runs each only against the cases its rule lists (or its Cases),
// which keeps it fast; one of those cases must catch it.
var Dedicated = append(slices.Clone(ruleBreakages), heavyBreakages...)

// ByRule maps each rule id to the names of the breakages dedicated to it, in All and Dedicated.
func ByRule() map[string][]string {
	out := map[string][]string{}
	for _, b := range append(slices.Clone(All), Dedicated...) {
		if b.Rule != "" {
			out[b.Rule] = append(out[b.Rule], b.Name)
		}
	}
	return out
}

var ruleBreakages = []Breakage{
	{Name: "events-as-binary", Description: "§1.2 sessionClosed events written as binary frames", Rule: "1.2.text-frame-one-object",
		Rules: only(faultproxy.Rule{Name: "binary", Dir: faultproxy.ToClient, Match: faultproxy.Event(protocol.EventSessionClosed),
			Apply: func(f *faultproxy.Frame) { f.Binary = true }})},
	{Name: "notification-answered", Description: "§2.1 a notification answered with a success response (id null)", Rule: "2.1.notification-no-success-response",
		Rules: only(faultproxy.Rule{Name: "answer", Dir: faultproxy.ToRelay, Match: notification, Apply: func(f *faultproxy.Frame) {
			f.Inject(f.Conn, faultproxy.ToClient, []byte(`{"jsonrpc":"2.0","id":null,"result":null}`))
		}})},
	{Name: "notification-dropped", Description: "§2.1 notifications not executed", Rule: "2.1.notification-executed",
		Rules: only(faultproxy.Drop("drop", faultproxy.ToRelay, notification))},
	{Name: "error-without-message", Description: "§2.3 error objects without their message member", Rule: "2.3.error-envelope",
		Rules: only(faultproxy.Rule{Name: "strip", Dir: faultproxy.ToClient, Match: faultproxy.ErrorResponse(0), Apply: func(f *faultproxy.Frame) {
			e := map[string]any{"code": f.RPC.Error.Code}
			if f.RPC.Error.Data != "" {
				e["data"] = f.RPC.Error.Data
			}
			b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": f.RPC.ID, "error": e})
			f.Replace(b)
		}})},
	{Name: "message-round-defaulted", Description: "§3.5 a message without round accepted as round 0", Rule: "3.5.message-fields-required",
		Rules: only(faultproxy.Rule{Name: "default", Dir: faultproxy.ToRelay, Match: faultproxy.Request(protocol.MethodSessionMessage), Apply: func(f *faultproxy.Frame) {
			var params []json.RawMessage
			var m map[string]json.RawMessage
			if json.Unmarshal(f.RPC.Params, &params) != nil || len(params) != 4 || json.Unmarshal(params[3], &m) != nil || m["round"] != nil {
				return
			}
			m["round"] = json.RawMessage("0")
			params[3], _ = json.Marshal(m)
			request(f, params)
		}})},
	{Name: "create-returns-other-uuid", Description: "§4.1 Group.create answers a fresh uuid that is not the group's", Rule: "4.1.returns-group-uuid",
		Rules: only(faultproxy.Rule{Name: "uuid", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodGroupCreate), ok),
			Apply: func(f *faultproxy.Frame) { success(f, uuid.New()) }})},
	{Name: "create-accepts-one-party", Description: "§4.1 Group.create with parties 1 accepted (a group of 2 made)", Rule: "4.1.parties-above-one",
		Rules: createAccepts(func(p *protocol.Parameters) bool {
			if p.Parties > 1 {
				return false
			}
			p.Parties, p.Threshold = 2, 1
			return true
		})},
	{Name: "create-accepts-threshold-zero", Description: "§4.1 Group.create with threshold 0 accepted (threshold 1 used)", Rule: "4.1.threshold-positive",
		Rules: createAccepts(func(p *protocol.Parameters) bool {
			if p.Parties <= 1 || p.Threshold > 0 {
				return false
			}
			p.Threshold = 1
			return true
		})},
	{Name: "create-accepts-threshold-not-below-parties", Description: "§4.1 Group.create with threshold >= parties accepted (parties-1 used)", Rule: "4.1.threshold-below-parties",
		Rules: createAccepts(func(p *protocol.Parameters) bool {
			if p.Parties <= 1 || p.Threshold == 0 || p.Threshold < p.Parties {
				return false
			}
			p.Threshold = p.Parties - 1
			return true
		})},
	{Name: "join-unknown-group-accepted", Description: "§4.2 Group.join of an unknown group answered with a made-up group", Rule: "4.2.unknown-group",
		Rules: joinUnknownGroupAccepted},
	{Name: "full-group-without-close-data", Description: `§4.2 a full group refused without data "close-connection" (the connection still closes)`, Rule: "4.2.full-group-refused",
		Rules: only(faultproxy.Rule{Name: "strip", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodGroupJoin), faultproxy.ErrorResponse(0)),
			Apply: func(f *faultproxy.Frame) {
				if f.RPC.Error.ClosesConnection() {
					f.Replace(protocol.EncodeError(f.RPC.ID, &protocol.Error{Code: f.RPC.Error.Code, Message: f.RPC.Error.Message}))
				}
			}})},
	{Name: "rejoin-takes-a-place", Description: "§4.2 a member joining its group again takes a second place, so the group fills early", Rule: "4.2.join-idempotent",
		Rules: rejoinTakesAPlace},
	{Name: "non-member-message-accepted", Description: "§4.3 Session.message from a connection outside the group accepted (and dropped)", Rule: "4.3.membership-required",
		Rules: nonMemberMessageAccepted},
	{Name: "create-in-unknown-group-accepted", Description: "§4.3 Session.create in an unknown group answered with a made-up session", Rule: "4.3.unknown-group",
		Rules: createInUnknownGroupAccepted},
	{Name: "create-event-echoed-to-caller", Description: "§4.3 sessionCreate also sent to the member that created the keygen session", Rule: "4.3.keygen-create-event",
		Rules: only(faultproxy.Rule{Name: "echo", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodSessionCreate), ok),
			Apply: func(f *faultproxy.Frame) {
				var s protocol.Session
				if json.Unmarshal(f.RPC.Result, &s) == nil && s.Kind == protocol.KindKeygen {
					f.Inject(f.Conn, faultproxy.ToClient, event(protocol.EventSessionCreate, f.RPC.Result))
				}
			}})},
	{Name: "sign-create-sends-event", Description: "§4.3 creating a sign session sends sessionCreate to the other members", Rule: "4.3.sign-create-no-event",
		Rules: signCreateSendsEvent},
	{Name: "join-unknown-session-accepted", Description: "§4.4 Session.join of an unknown session answered with a made-up session", Rule: "4.4.unknown-session",
		Rules: unknownSessionAccepted(protocol.MethodSessionJoin, func(p protocol.SessionParams) any {
			return protocol.Session{UUID: p.SessionID, Kind: p.Kind, Value: json.RawMessage("null")}
		})},
	{Name: "join-makes-a-party", Description: "§4.4 Session.join counted as a party: sessionSignup fires when joiners and parties reach the required count", Rule: "4.4.join-not-a-party",
		Rules: joinMakesAParty},
	{Name: "signup-number-counts-parties", Description: "§4.5 after a load, Session.signup issues the count of parties plus one (the loaded number again)", Rule: "4.5.numbers-after-load",
		Rules: signupNumberCountsParties},
	{Name: "sign-signup-event-at-parties", Description: "§4.5 a sign session's sessionSignup waits for parties signups, not threshold+1", Rule: "4.5.event-at-required-count",
		Rules: signSignupEventAtParties},
	{Name: "extra-signup-repeats-event", Description: "§4.5 a signup beyond the required count sends sessionSignup again", Rule: "4.5.beyond-required-no-event",
		Rules: extraSignupRepeatsEvent},
	{Name: "signup-unknown-session-accepted", Description: "§4.5 Session.signup for an unknown session answered with number 1", Rule: "4.5.unknown-session",
		Rules: unknownSessionAccepted(protocol.MethodSessionSignup, func(protocol.SessionParams) any { return 1 })},
	{Name: "load-event-twice", Description: "§4.6 sessionLoad sent twice", Rule: "4.6.event-at-required-count",
		Rules: only(faultproxy.Duplicate("dup", faultproxy.ToClient, faultproxy.Event(protocol.EventSessionLoad)))},
	{Name: "message-unknown-session-accepted", Description: "§4.7 Session.message for an unknown session accepted (and dropped)", Rule: "4.7.session-must-exist",
		Rules: unknownSessionAccepted(protocol.MethodSessionMessage, func(protocol.SessionParams) any { return nil })},
	{Name: "unknown-receiver-accepted", Description: "§4.7 a message to a receiver no party holds accepted (and dropped)", Rule: "4.7.unknown-receiver",
		Rules: unknownReceiverAccepted},
	{Name: "broadcast-skips-last-party", Description: "§4.7 a broadcast not delivered to the party with the highest number", Rule: "4.7.broadcast-to-other-parties",
		Rules: broadcastSkipsLastParty},
	{Name: "broadcast-receiver-filled-in", Description: "§4.7 a broadcast forwarded with receiver set to each recipient's number", Rule: "4.7.fields-unchanged",
		Rules: broadcastReceiverFilledIn},
	{Name: "finish-unknown-party-accepted", Description: "§4.8 Session.finish with a number no party holds accepted", Rule: "4.8.finish-unknown-party",
		Rules: finishUnknownPartyAccepted},
	{Name: "closed-numbers-descending", Description: "§4.8 sessionClosed lists the party numbers in descending order", Rule: "4.8.closed-to-every-party",
		Rules: only(faultproxy.Rule{Name: "reverse", Dir: faultproxy.ToClient, Match: faultproxy.Event(protocol.EventSessionClosed), Apply: func(f *faultproxy.Frame) {
			var nums []uint16
			if json.Unmarshal(f.RPC.Payload, &nums) == nil {
				slices.Reverse(nums)
				f.Replace(event(protocol.EventSessionClosed, nums))
			}
		}})},
	{Name: "closed-twice", Description: "§4.8 sessionClosed sent twice", Rule: "4.8.closed-once",
		Rules: only(faultproxy.Duplicate("dup", faultproxy.ToClient, faultproxy.Event(protocol.EventSessionClosed)))},
	{Name: "empty-group-kept", Description: "§6.1 a group whose members all left is kept: a later Group.join succeeds", Rule: "6.1.empty-group-deleted",
		Rules: emptyGroupKept},
	{Name: "closed-member-keeps-place", Description: "§6.1 a closed connection keeps its place in its groups, so they stay full", Rule: "6.1.closed-member-removed",
		Rules: closedMemberKeepsPlace},
	{Name: "routing-stops-after-disconnect", Description: "§6.2 once a party of a session disconnected, the session's messages are no longer delivered", Rule: "6.2.disconnect-mid-session",
		Rules: routingStopsAfterDisconnect},
}

func notification(f *faultproxy.Frame) bool {
	return f.RPC.Kind == faultproxy.KindRequest && f.RPC.ID == nil
}

// request rewrites a client request with new params (same id and method).
func request(f *faultproxy.Frame, params any) {
	raw, err := json.Marshal(params)
	if err != nil {
		return
	}
	b, err := json.Marshal(protocol.Request{JSONRPC: protocol.Version, ID: f.RPC.ID, Method: f.RPC.Method, Params: raw})
	if err == nil {
		f.Replace(b)
	}
}

// refuseAndClose answers a Group.join with the full-group error and closes the connection, as a
// relay that believes the group full would (§4.2).
func refuseAndClose(f *faultproxy.Frame, group uuid.UUID) {
	_ = f.Conn.Send(faultproxy.ToClient, protocol.EncodeError(f.RPC.ID, protocol.ErrGroupFull(group)))
	f.Close(1000, "")
}

// createAccepts rewrites Group.create params that a rule refuses into ones it accepts (fix
// reports whether it changed them), so the relay creates a group the rule forbids.
func createAccepts(fix func(*protocol.Parameters) bool) func() []faultproxy.Rule {
	return only(faultproxy.Rule{Name: "accept", Dir: faultproxy.ToRelay, Match: faultproxy.Request(protocol.MethodGroupCreate), Apply: func(f *faultproxy.Frame) {
		var p protocol.GroupCreateParams
		if json.Unmarshal(f.RPC.Params, &p) == nil && fix(&p.Params) {
			request(f, p)
		}
	}})
}

func joinUnknownGroupAccepted() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	return []faultproxy.Rule{tr.Rule(), {Name: "accept", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodGroupJoin), faultproxy.ErrorResponse(0)),
		Apply: func(f *faultproxy.Frame) {
			var p protocol.GroupJoinParams
			if json.Unmarshal(f.RPC.Params, &p) == nil && tr.Group(p.GroupID) == nil && !f.RPC.Error.ClosesConnection() {
				success(f, protocol.Group{UUID: p.GroupID, Params: protocol.Parameters{Parties: 2, Threshold: 1}})
			}
		}}}
}

func rejoinTakesAPlace() []faultproxy.Rule {
	members := map[uuid.UUID][]*faultproxy.Conn{}
	params := map[uuid.UUID]protocol.Parameters{}
	extra := map[uuid.UUID]int{} // places taken by re-joins
	return []faultproxy.Rule{
		{Name: "created", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodGroupCreate), ok), Apply: func(f *faultproxy.Frame) {
			var p protocol.GroupCreateParams
			var id uuid.UUID
			if json.Unmarshal(f.RPC.Params, &p) == nil && json.Unmarshal(f.RPC.Result, &id) == nil {
				members[id], params[id] = []*faultproxy.Conn{f.Conn}, p.Params
			}
		}},
		{Name: "join", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodGroupJoin), ok), Apply: func(f *faultproxy.Frame) {
			var g protocol.Group
			if json.Unmarshal(f.RPC.Result, &g) != nil {
				return
			}
			switch {
			case slices.Contains(members[g.UUID], f.Conn):
				extra[g.UUID]++
			case len(members[g.UUID])+extra[g.UUID] >= int(g.Params.Parties):
				refuseAndClose(f, g.UUID)
			default:
				members[g.UUID] = append(members[g.UUID], f.Conn)
			}
		}},
	}
}

func nonMemberMessageAccepted() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	return []faultproxy.Rule{tr.Rule(), {Name: "accept", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodSessionMessage), faultproxy.ErrorResponse(protocol.CodeInternal)),
		Apply: func(f *faultproxy.Frame) {
			var p protocol.SessionMessageParams
			if json.Unmarshal(f.RPC.Params, &p) != nil {
				return
			}
			if g := tr.Group(p.GroupID); g != nil && !slices.Contains(g.Members, f.Conn) {
				success(f, nil)
			}
		}}}
}

func createInUnknownGroupAccepted() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	return []faultproxy.Rule{tr.Rule(), {Name: "accept", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodSessionCreate), faultproxy.ErrorResponse(protocol.CodeInternal)),
		Apply: func(f *faultproxy.Frame) {
			var p protocol.SessionCreateParams
			if json.Unmarshal(f.RPC.Params, &p) == nil && tr.Group(p.GroupID) == nil {
				v := p.Value
				if v == nil {
					v = json.RawMessage("null")
				}
				success(f, protocol.Session{UUID: uuid.New(), Kind: p.Kind, Value: v})
			}
		}}}
}

func signCreateSendsEvent() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	return []faultproxy.Rule{tr.Rule(), {Name: "announce", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodSessionCreate), ok),
		Apply: func(f *faultproxy.Frame) {
			var p protocol.SessionCreateParams
			var s protocol.Session
			if json.Unmarshal(f.RPC.Params, &p) != nil || json.Unmarshal(f.RPC.Result, &s) != nil || s.Kind != protocol.KindSign {
				return
			}
			if g := tr.Group(p.GroupID); g != nil {
				for _, m := range g.Members {
					if m != f.Conn {
						f.Inject(m, faultproxy.ToClient, event(protocol.EventSessionCreate, f.RPC.Result))
					}
				}
			}
		}}}
}

// unknownSessionAccepted answers method's "does not exist" error for a session the proxy never
// saw (in a group it saw, from a member) with result(params).
func unknownSessionAccepted(method string, result func(protocol.SessionParams) any) func() []faultproxy.Rule {
	return func() []faultproxy.Rule {
		tr := faultproxy.NewTracker()
		return []faultproxy.Rule{tr.Rule(), {Name: "accept", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(method), faultproxy.ErrorResponse(protocol.CodeInternal)),
			Apply: func(f *faultproxy.Frame) {
				var p protocol.SessionParams
				var raw []json.RawMessage
				if json.Unmarshal(f.RPC.Params, &raw) != nil || len(raw) < 2 || json.Unmarshal(raw[0], &p.GroupID) != nil || json.Unmarshal(raw[1], &p.SessionID) != nil {
					return
				}
				if len(raw) > 2 {
					_ = json.Unmarshal(raw[2], &p.Kind)
				}
				g := tr.Group(p.GroupID)
				if g != nil && slices.Contains(g.Members, f.Conn) && tr.Session(p.SessionID) == nil {
					success(f, result(p))
				}
			}}}
	}
}

func joinMakesAParty() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	joiners := map[uuid.UUID][]*faultproxy.Conn{} // joined, not (yet) parties
	fired := map[uuid.UUID]bool{}
	return []faultproxy.Rule{tr.Rule(), {Name: "count", Dir: faultproxy.ToClient, Match: faultproxy.All(ok, func(f *faultproxy.Frame) bool {
		return f.RPC.IsResponseTo(protocol.MethodSessionJoin) || f.RPC.IsResponseTo(protocol.MethodSessionSignup)
	}), Apply: func(f *faultproxy.Frame) {
		var p protocol.SessionParams
		if json.Unmarshal(f.RPC.Params, &p) != nil {
			return
		}
		s := tr.Session(p.SessionID)
		if s == nil {
			return
		}
		if f.RPC.Method == protocol.MethodSessionSignup {
			joiners[s.ID] = slices.DeleteFunc(joiners[s.ID], func(c *faultproxy.Conn) bool { return c == f.Conn })
			return
		}
		if s.IsParty(f.Conn) || slices.Contains(joiners[s.ID], f.Conn) {
			return
		}
		joiners[s.ID] = append(joiners[s.ID], f.Conn)
		if req := tr.Required(s); !fired[s.ID] && req > 0 && len(s.Parties)+len(joiners[s.ID]) == req {
			fired[s.ID] = true
			for _, c := range append(s.PartyConns(), joiners[s.ID]...) {
				f.Inject(c, faultproxy.ToClient, event(protocol.EventSessionSignup, s.ID))
			}
		}
	}}}
}

func signupNumberCountsParties() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	loaded := map[uuid.UUID]bool{}
	// this rule runs before the tracker's, so the session's parties do not include this signup yet
	return []faultproxy.Rule{{Name: "count", Dir: faultproxy.ToClient, Match: faultproxy.All(ok, func(f *faultproxy.Frame) bool {
		return f.RPC.IsResponseTo(protocol.MethodSessionSignup) || f.RPC.IsResponseTo(protocol.MethodSessionLoad)
	}), Apply: func(f *faultproxy.Frame) {
		var p protocol.SessionParams
		var raw []json.RawMessage
		if json.Unmarshal(f.RPC.Params, &raw) != nil || len(raw) < 2 || json.Unmarshal(raw[1], &p.SessionID) != nil {
			return
		}
		if f.RPC.Method == protocol.MethodSessionLoad {
			loaded[p.SessionID] = true
			return
		}
		if s := tr.Session(p.SessionID); s != nil && loaded[p.SessionID] {
			success(f, len(s.Parties)+1)
		}
	}}, tr.Rule()}
}

func signSignupEventAtParties() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	return []faultproxy.Rule{tr.Rule(), {Name: "wait", Dir: faultproxy.ToClient, Match: faultproxy.Event(protocol.EventSessionSignup), Apply: func(f *faultproxy.Frame) {
		var id uuid.UUID
		if json.Unmarshal(f.RPC.Payload, &id) != nil {
			return
		}
		s := tr.Session(id)
		if s == nil || s.Kind != protocol.KindSign {
			return
		}
		if g := tr.Group(s.Group); g != nil && len(s.Parties) < int(g.Params.Parties) {
			f.Drop()
		}
	}}}
}

func extraSignupRepeatsEvent() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	return []faultproxy.Rule{tr.Rule(), {Name: "repeat", Dir: faultproxy.ToClient, Match: faultproxy.ResponseTo(protocol.MethodSessionSignup), Apply: func(f *faultproxy.Frame) {
		var p protocol.SessionParams
		if json.Unmarshal(f.RPC.Params, &p) != nil {
			return
		}
		s := tr.Session(p.SessionID)
		if s == nil {
			return
		}
		req := tr.Required(s)
		// a refused extra signup leaves the parties at the required count; an accepted one (the
		// original's behaviour) takes them past it
		if req == 0 || (f.RPC.Error != nil && len(s.Parties) < req) || (f.RPC.Error == nil && len(s.Parties) <= req) {
			return
		}
		conns := s.PartyConns()
		if !slices.Contains(conns, f.Conn) {
			conns = append(conns, f.Conn)
		}
		for _, c := range conns {
			f.Inject(c, faultproxy.ToClient, event(protocol.EventSessionSignup, s.ID))
		}
	}}}
}

func unknownReceiverAccepted() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	return []faultproxy.Rule{tr.Rule(), {Name: "accept", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodSessionMessage), faultproxy.ErrorResponse(protocol.CodeInternal)),
		Apply: func(f *faultproxy.Frame) {
			var p protocol.SessionMessageParams
			if json.Unmarshal(f.RPC.Params, &p) != nil || p.Message.Receiver == nil {
				return
			}
			if s := tr.Session(p.SessionID); s != nil && s.IsParty(f.Conn) && s.Parties[*p.Message.Receiver] == nil {
				success(f, nil)
			}
		}}}
}

func broadcastSkipsLastParty() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	return []faultproxy.Rule{tr.Rule(), {Name: "skip", Dir: faultproxy.ToClient, Match: faultproxy.Event(protocol.EventSessionMessage), Apply: func(f *faultproxy.Frame) {
		var m protocol.Message
		if json.Unmarshal(f.RPC.Payload, &m) != nil || !m.Broadcast() {
			return
		}
		if s := tr.Session(m.UUID); s != nil {
			nums := s.Numbers()
			if last := nums[len(nums)-1]; s.Parties[last] == f.Conn && m.Sender != last {
				f.Drop()
			}
		}
	}}}
}

func broadcastReceiverFilledIn() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	return []faultproxy.Rule{tr.Rule(), {Name: "fill", Dir: faultproxy.ToClient, Match: faultproxy.Event(protocol.EventSessionMessage), Apply: func(f *faultproxy.Frame) {
		var m protocol.Message
		if json.Unmarshal(f.RPC.Payload, &m) != nil || !m.Broadcast() {
			return
		}
		if s := tr.Session(m.UUID); s != nil {
			for n, c := range s.Parties {
				if c == f.Conn {
					m.Receiver = protocol.Receiver(n)
					f.Replace(event(protocol.EventSessionMessage, m))
					return
				}
			}
		}
	}}}
}

func finishUnknownPartyAccepted() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	return []faultproxy.Rule{tr.Rule(), {Name: "accept", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodSessionFinish), faultproxy.ErrorResponse(protocol.CodeInternal)),
		Apply: func(f *faultproxy.Frame) {
			var p protocol.SessionFinishParams
			if json.Unmarshal(f.RPC.Params, &p) != nil {
				return
			}
			if s := tr.Session(p.SessionID); s != nil && s.IsParty(f.Conn) && s.Parties[p.Number] == nil {
				success(f, nil)
			}
		}}}
}

func emptyGroupKept() []faultproxy.Rule {
	created := map[uuid.UUID]protocol.Group{}
	return []faultproxy.Rule{
		{Name: "created", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodGroupCreate), ok), Apply: func(f *faultproxy.Frame) {
			var p protocol.GroupCreateParams
			var id uuid.UUID
			if json.Unmarshal(f.RPC.Params, &p) == nil && json.Unmarshal(f.RPC.Result, &id) == nil {
				created[id] = protocol.Group{UUID: id, Params: p.Params, Label: p.Label}
			}
		}},
		{Name: "keep", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodGroupJoin), faultproxy.ErrorResponse(protocol.CodeInternal)), Apply: func(f *faultproxy.Frame) {
			var p protocol.GroupJoinParams
			if json.Unmarshal(f.RPC.Params, &p) != nil || f.RPC.Error.ClosesConnection() {
				return
			}
			if g, ok := created[p.GroupID]; ok {
				success(f, g)
			}
		}},
	}
}

func closedMemberKeepsPlace() []faultproxy.Rule {
	tr := faultproxy.NewTracker() // never forgets a member: its member lists are what this relay keeps
	return []faultproxy.Rule{tr.Rule(), {Name: "full", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodGroupJoin), ok), Apply: func(f *faultproxy.Frame) {
		var g protocol.Group
		if json.Unmarshal(f.RPC.Result, &g) != nil {
			return
		}
		if tg := tr.Group(g.UUID); tg != nil && len(tg.Members) > int(tg.Params.Parties) {
			refuseAndClose(f, g.UUID)
		}
	}}}
}

func routingStopsAfterDisconnect() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	return []faultproxy.Rule{tr.Rule(), {Name: "stop", Dir: faultproxy.ToClient, Match: faultproxy.Event(protocol.EventSessionMessage), Apply: func(f *faultproxy.Frame) {
		var m protocol.Message
		if json.Unmarshal(f.RPC.Payload, &m) != nil {
			return
		}
		if s := tr.Session(m.UUID); s != nil && slices.ContainsFunc(s.PartyConns(), (*faultproxy.Conn).Closed) {
			f.Drop()
		}
	}}}
}
