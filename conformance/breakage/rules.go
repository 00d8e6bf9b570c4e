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

// ByRule maps each rule id to the names of the breakages dedicated to it, in All, Dedicated and
// the realistic lists.
func ByRule() map[string][]string {
	out := map[string][]string{}
	for _, b := range slices.Concat(All, Dedicated, Realistic, RealisticOnCompat) {
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
