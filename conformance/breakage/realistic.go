package breakage

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"mpcrelay/faultproxy"
	"mpcrelay/relay/protocol"
)

// Realistic lists implementation bugs of the kind that ship (issue #12): state keyed a little
// too coarsely, a limit nobody wrote down, a count of calls taken for a count of parties, a value
// cut or re-typed on its way, routing that works only in the common order, a loop that stops at
// the first closed connection. Each breaks a MUST of PROTOCOL.md in a situation no hand-written
// case set up when it was added. Those without a Rule are the model-based explorer's (package
// explore must catch each); those with a Rule are bugs the explorer does not reach — races
// between connections, high party numbers, fields naming other parties or sessions, large
// texts (realistic_unreached.go, realistic_races.go), groups larger than its six connections
// (realistic_large_groups.go), requests in JSON forms it does not write and parties that only
// listen for hundreds of frames (realistic_round3.go), states the explorer reached on one or two of
// its seeds only (realistic_thin.go), member names read case-insensitively (realistic_names.go),
// WebSocket framing, frames at and past 1 MiB, caches that evict live state (the fourth pass's
// candidates, candidates.go) — and the self-test requires a hand-written case of that rule
// to catch each. They sit behind the strict reference relay, except RealisticOnCompat, which
// need the original's COMPAT behaviour (closed parties' numbers left in their sessions, §6.1).
var Realistic = slices.Concat([]Breakage{
	{Name: "numbers-per-group", Description: "§3.6/§4.5 party numbers counted per group, not per session (reset when a session closes): a session opened while another is running continues its numbering", Rules: numbersPerGroup},
	{Name: "finish-counts-calls", Description: "§4.8 sessionClosed fires when the count of finish calls reaches the count of parties, so a party finishing twice closes the session early", Rules: finishCountsCalls},
	{Name: "label-cut-64-bytes", Description: "§3.2 group labels kept in a 64-byte column: Group.join returns longer labels cut (a cut character replaced)", Rules: labelCut},
	{Name: "load-number-as-byte", Description: "§4.6 party numbers kept in a byte: Session.load of a number above 255 answers it modulo 256", Rules: loadAsByte},
	{Name: "groups-per-connection-cap", Description: "§4.1/§4.2 a limit nobody wrote down: a connection belongs to at most 16 groups (a fixed-size array), its 17th Group.create or Group.join is refused", Rules: groupsPerConnectionCap},
	{Name: "parties-counted-per-connection", Description: "§4.5/§4.6 the required count compared with the connections of the session, not its party numbers: a connection holding two numbers delays sessionSignup/sessionLoad", Rules: partiesCountedPerConnection},
	{Name: "p2p-before-complete-dropped", Description: "§4.7 peer-to-peer routes built when the session completes: a message to a party before that (or to one who came later) is answered but never delivered", Rules: p2pBeforeComplete},

	// the red-team pass: bugs the explorer does not reach, each caught by a case of its Rule
	{Name: "closed-sorted-as-text", Description: "§4.8 sessionClosed numbers sorted as text (JavaScript's default sort): [10,2,300,64,9]", Rule: "4.8.closed-to-every-party", Rules: closedSortedAsText},
	{Name: "finished-in-64-bit-mask", Description: "§4.8 finished parties counted in a 64-bit mask (in Go 1<<n is 0 for n >= 64): a session holding a party number of 64 or more never sends sessionClosed", Rule: "4.8.closed-when-all-finished", Rules: finishedIn64BitMask},
	{Name: "broadcast-excludes-sender-field", Description: "§4.7 a broadcast skips the party its sender field names, not the caller's connection: a caller whose sender field names another party gets its broadcast back, and that party misses it", Rule: "4.7.broadcast-to-other-parties", Rules: broadcastExcludesSenderField},
	{Name: "message-routed-by-uuid-field", Description: "§3.6 Session.message checks membership of the params' group, then finds the session by the message's uuid field (one global session map): a member of one group reaches the parties of another group's session", Rule: "3.6.groups-independent", Rules: messageRoutedByUUIDField},
	{Name: "proposal-message-limit-4kib", Description: "§4.9 a limit nobody wrote down: Notify.proposal messages over 4 KiB (a transaction to sign) refused with -32603", Rule: "4.9.proposal-to-other-members", Rules: proposalMessageLimit},
	{Name: "concurrent-signups-same-number", Description: "§4.5 the next party number read, then stored after an await: signups of two connections arriving together get the same number", Rule: "4.5.numbers-from-one", Rules: concurrentSignupsSameNumber},
	{Name: "concurrent-finishes-close-twice", Description: "§4.8 'has every party finished?' asked after an await: the last finishes of two connections arriving together both send sessionClosed", Rule: "4.8.closed-once", Rules: concurrentFinishesCloseTwice},
	{Name: "concurrent-joins-overfill-group", Description: "§4.2 the member count read, then the member added after an await: joins of two connections arriving together both take the group's last place", Rule: "4.2.full-group-refused", Rules: concurrentJoinsOverfill},

	// the second red-team pass: races of loads and closes (realistic_races.go), groups and
	// sessions larger than the explorer's six connections (realistic_large_groups.go)
	{Name: "concurrent-loads-same-number", Description: "§4.6 the 'number taken?' check done, then the number stored after an await: two connections loading the same number at once both get it", Rule: "4.6.number-not-taken", Rules: concurrentLoadsSameNumber},
	{Name: "concurrent-loads-event-twice", Description: "§4.6 'has the session its required count?' asked after an await: the last loads of two connections arriving together both send sessionLoad", Rule: "4.6.event-at-required-count", Rules: concurrentLoadsEventTwice},
	{Name: "concurrent-closes-keep-group", Description: "§6.1 the member count decremented after an await: the last two members of a group closing together leave a count of 1, and the group is never deleted", Rule: "6.1.empty-group-deleted", Rules: concurrentClosesKeepGroup},
	{Name: "members-in-16-bit-mask", Description: "§4.3/§4.9/§4.10 the members to notify kept in a 16-bit mask of join slots (1<<slot is 0 from slot 16): the 17th member of a group on gets no sessionCreate, notifyProposal or notifySigned", Rule: "4.3.keygen-create-event", Rules: membersIn16BitMask},
	{Name: "parties-in-32-bit-mask", Description: "§4.5/§4.6 the parties to notify kept in a 32-bit mask by party number: a party numbered 32 or more gets no sessionSignup or sessionLoad", Rule: "4.5.event-to-every-party", Rules: partiesIn32BitMask},
	{Name: "broadcast-capped-at-16", Description: "§4.7 a broadcast's recipients collected into a 16-entry array: in a session of more than 17 parties, the other parties after the 16th miss every broadcast", Rule: "4.7.broadcast-to-other-parties", Rules: broadcastCapped16},

	// the third red-team pass (realistic_round3.go): requests read by matching bytes, a
	// listening party taken for a dead one
	{Name: "request-member-order-fixed", Description: `§2.1 a fast path that wants {"jsonrpc":"2.0", first: a request whose members come in another order is refused -32600`, Rule: "2.1.request-any-json-form", Rules: fastPath(envelopeNotFirst)},
	{Name: "request-escaped-member-names-missed", Description: `§2.1 a fast path that finds "method" and "params" as bytes: a request with an escaped member name ("m\u0065thod") is refused -32600`, Rule: "2.1.request-any-json-form", Rules: fastPath(memberNamesEscaped)},
	{Name: "silent-receiver-dropped", Description: "§1.3/§6.2 a connection written more than 256 events in a row while it sent nothing is closed as dead: a party that only listens while another streams a round is dropped", Rule: "1.3.stream-order", Rules: silentReceiverDropped},

	// caught by the explorer on one or two of its four seeds only (realistic_thin.go)
	{Name: "receiver-zero-broadcast", Description: "§4.7 the receiver read into a plain integer whose zero means none: a message to receiver 0 is broadcast instead of refused -32603", Rule: "4.7.unknown-receiver", Rules: receiverZeroBroadcast},
	{Name: "signup-number-in-byte", Description: "§4.5 the last number issued kept in a byte: after 255 a signup is issued 0", Rule: "4.5.numbers-after-load", Rules: signupNumberInByte},
	{Name: "signup-wraps-past-65535", Description: "§4.5 the next number computed as a u16 with no check: a signup in a session holding 65535 is issued 0", Rule: "4.5.numbers-after-load", Rules: signupWrapsPast65535},
	{Name: "p2p-route-at-first-holder", Description: "§4.7/§6.1 peer-to-peer routes built when a number is first issued: after its holder leaves and another connection loads the number, messages to it go to the departed connection", Rule: "4.7.p2p-to-receiver-only", Rules: p2pRouteAtFirstHolder},
	{Name: "signed-after-close-reaches-signers", Description: "§4.10 a closed session's parties forgotten: Notify.signed after every signer finished (§7's flow) also reaches the signers", Rule: "4.10.signed-not-to-parties", Rules: signedAfterCloseReachesSigners},
	{Name: "closed-waits-for-departed", Description: "§4.8/§6.1 sessionClosed waits for a finish of every number ever issued: once a party left (its number freed), the session never closes", Rule: "4.8.closed-when-all-finished", Rules: closedWaitsForDeparted},
	{Name: "departed-still-counted", Description: "§4.6/§6.1 departed parties still counted: a number loaded again after its party left completes the session early, with one live party missing", Rule: "4.6.event-at-required-count", Rules: departedStillCounted},

	// requests read with Go's encoding/json (realistic_names.go): member names matched
	// case-insensitively
	{Name: "member-names-case-insensitive", Description: `§3/§4.7 requests decoded with Go's encoding/json, which matches member names case-insensitively: a message's "Receiver":2 routes it to party 2 alone (it has no receiver: a broadcast), "ROUND" or "Parties" fills the missing round or parties (-32602), "ID" makes a notification a request, "PARAMS" is read as params`, Rule: "3.member-names-exact", Rules: namesFolded},
},
	// the fourth red-team pass (candidates.go): the candidates the whole suite passed, or only
	// one seed of the explorer caught — WebSocket framing, frames at and past 1 MiB, binary
	// requests, caches that evict live groups and sessions, a notification cut by a close, a
	// value past a column size
	pick(Candidates, "ws-ping-unanswered", "ws-pong-empty", "ws-ping-between-fragments-loses-message", "cut-connection-keeps-membership",
		"frame-limit-exactly-1mib-refused", "events-over-1mib-dropped", "binary-requests-executed", "live-groups-evicted-lru-64",
		"sessions-per-group-lru-16", "notification-before-close-dropped", "signed-value-over-64kib-dropped"),
)

// RealisticOnCompat lists the realistic breakages that show only behind the compat relay.
var RealisticOnCompat = slices.Concat([]Breakage{
	{Name: "broadcast-stops-at-closed-party", Description: "§4.7/§6.1 the broadcast loop stops at the first party whose connection closed (compat relays keep their numbers): later parties miss the message", Rules: broadcastStopsAtClosed},
	{Name: "closed-connection-slot-reused", Description: "§4.7/§6.1 connection ids from a slab that reuses a closed connection's slot, while (COMPAT) its party numbers stay in their sessions: the next connection to arrive receives the departed party's messages", Rule: "4.7.p2p-to-receiver-only", Rules: closedConnectionSlotReused},
},
	pick(CandidatesOnCompat, "compat-join-kind-from-params", "compat-proposer-made-member"),
)

// numbersPerGroup rewrites Session.signup answers as a relay whose "last number issued" lives
// on the group, reset when a session closes, would issue them: sessions run one after another
// (keygen, then signing) are numbered right; sessions open at the same time are not.
func numbersPerGroup() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	last := map[uuid.UUID]uint16{} // group → last number issued or loaded in any of its sessions
	return []faultproxy.Rule{tr.Rule(), {Name: "per-group", Dir: faultproxy.ToClient, Match: ok, Apply: func(f *faultproxy.Frame) {
		switch f.RPC.Method {
		case protocol.MethodSessionLoad:
			var p protocol.SessionLoadParams
			var n uint16
			if json.Unmarshal(f.RPC.Params, &p) == nil && json.Unmarshal(f.RPC.Result, &n) == nil {
				last[p.GroupID] = n
			}
		case protocol.MethodSessionSignup:
			var p protocol.SessionParams
			var n uint16
			if json.Unmarshal(f.RPC.Params, &p) != nil || json.Unmarshal(f.RPC.Result, &n) != nil {
				return
			}
			last[p.GroupID]++
			if last[p.GroupID] != n {
				success(f, last[p.GroupID])
			}
		case protocol.MethodSessionFinish:
			var p protocol.SessionFinishParams
			if json.Unmarshal(f.RPC.Params, &p) != nil {
				return
			}
			if s := tr.Session(p.SessionID); s != nil && len(s.Finished) == len(s.Parties) {
				last[p.GroupID] = 0 // the session closed: the group's counter starts again
			}
		}
	}}}
}

// finishCountsCalls sends sessionClosed once the successful finish calls of a session number its
// parties, and drops the relay's own (later) sessionClosed of that session.
func finishCountsCalls() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	calls := map[uuid.UUID]int{}
	early := map[uuid.UUID]map[*faultproxy.Conn]int{} // sessionClosed copies already sent early, to drop
	return []faultproxy.Rule{tr.Rule(),
		{Name: "count", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodSessionFinish), ok), Apply: func(f *faultproxy.Frame) {
			var p protocol.SessionFinishParams
			if json.Unmarshal(f.RPC.Params, &p) != nil {
				return
			}
			s := tr.Session(p.SessionID)
			calls[p.SessionID]++
			if s == nil || calls[p.SessionID] != len(s.Parties) || len(s.Finished) == len(s.Parties) {
				return
			}
			early[p.SessionID] = map[*faultproxy.Conn]int{}
			for _, n := range s.Numbers() {
				c := s.Parties[n]
				f.Inject(c, faultproxy.ToClient, event(protocol.EventSessionClosed, s.Numbers()))
				early[p.SessionID][c]++
			}
		}},
		{Name: "drop-late", Dir: faultproxy.ToClient, Match: faultproxy.Event(protocol.EventSessionClosed), Apply: func(f *faultproxy.Frame) {
			for sid, conns := range early {
				if conns[f.Conn] > 0 && tr.Session(sid) != nil && tr.Session(sid).IsParty(f.Conn) {
					conns[f.Conn]--
					f.Drop()
					return
				}
			}
		}},
	}
}

// labelCut cuts the label of Group.join results to 64 bytes.
func labelCut() []faultproxy.Rule {
	return []faultproxy.Rule{{Name: "cut", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodGroupJoin), ok), Apply: func(f *faultproxy.Frame) {
		var g protocol.Group
		if json.Unmarshal(f.RPC.Result, &g) == nil && len(g.Label) > 64 {
			g.Label = strings.ToValidUTF8(g.Label[:64], string(utf8.RuneError))
			success(f, g)
		}
	}}}
}

// loadAsByte answers Session.load with the number modulo 256.
func loadAsByte() []faultproxy.Rule {
	return []faultproxy.Rule{{Name: "byte", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodSessionLoad), ok), Apply: func(f *faultproxy.Frame) {
		var n uint16
		if json.Unmarshal(f.RPC.Result, &n) == nil && n > 255 {
			success(f, uint16(uint8(n)))
		}
	}}}
}

// p2pBeforeComplete drops peer-to-peer messages of a session that has not completed yet (no
// sessionSignup/sessionLoad sent), or to a party that came after it completed.
func p2pBeforeComplete() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	routes := map[uuid.UUID]map[*faultproxy.Conn]bool{} // session → the parties when it completed
	drops := map[msgTo]int{}
	return []faultproxy.Rule{tr.Rule(),
		{Name: "routes", Dir: faultproxy.ToClient, Match: joinsParty, Apply: func(f *faultproxy.Frame) {
			id, named := partySession(f.RPC.Params)
			s := tr.Session(id)
			if !named || routes[id] != nil || s == nil || len(s.Parties) < tr.Required(s) {
				return
			}
			routes[id] = map[*faultproxy.Conn]bool{} // complete: the routes are built now
			for _, c := range s.PartyConns() {
				routes[id][c] = true
			}
		}},
		{Name: "no-route", Dir: faultproxy.ToRelay, Match: faultproxy.Request(protocol.MethodSessionMessage), Apply: func(f *faultproxy.Frame) {
			var p protocol.SessionMessageParams
			if json.Unmarshal(f.RPC.Params, &p) != nil || p.Message.Broadcast() {
				return
			}
			s := tr.Session(p.SessionID)
			if s == nil || s.Parties[*p.Message.Receiver] == nil {
				return
			}
			if to := s.Parties[*p.Message.Receiver]; !routes[p.SessionID][to] {
				drops[msgTo{to, messageKey(p.Message)}]++
			}
		}},
		dropMarked(drops),
	}
}

// msgTo is a sessionMessage on its way to one connection.
type msgTo struct {
	conn *faultproxy.Conn
	msg  string
}

func messageKey(m protocol.Message) string {
	return fmt.Sprintf("%s/%d/%d/%v/%s", m.UUID, m.Round, m.Sender, m.Receiver != nil, m.Body)
}

// dropMarked drops the sessionMessage events marked in drops (once per mark).
func dropMarked(drops map[msgTo]int) faultproxy.Rule {
	return faultproxy.Rule{Name: "drop", Dir: faultproxy.ToClient, Match: faultproxy.Event(protocol.EventSessionMessage), Apply: func(f *faultproxy.Frame) {
		var m protocol.Message
		if json.Unmarshal(f.RPC.Payload, &m) != nil {
			return
		}
		if k := (msgTo{f.Conn, messageKey(m)}); drops[k] > 0 {
			drops[k]--
			f.Drop()
		}
	}}
}

// broadcastStopsAtClosed: at each broadcast, the parties after the first closed one (in
// signup/load order, the caller skipped) get nothing.
func broadcastStopsAtClosed() []faultproxy.Rule {
	order := map[uuid.UUID][]*faultproxy.Conn{} // session → the connection of each party, in order
	drops := map[msgTo]int{}
	return []faultproxy.Rule{
		{Name: "order", Dir: faultproxy.ToClient, Match: joinsParty, Apply: func(f *faultproxy.Frame) {
			if id, named := partySession(f.RPC.Params); named {
				order[id] = append(order[id], f.Conn)
			}
		}},
		{Name: "stop", Dir: faultproxy.ToRelay, Match: faultproxy.Request(protocol.MethodSessionMessage), Apply: func(f *faultproxy.Frame) {
			var p protocol.SessionMessageParams
			if json.Unmarshal(f.RPC.Params, &p) != nil || !p.Message.Broadcast() {
				return
			}
			stopped := false
			for _, c := range order[p.SessionID] {
				switch {
				case c == f.Conn:
				case stopped:
					drops[msgTo{c, messageKey(p.Message)}]++
				case c.Closed():
					stopped = true
				}
			}
		}},
		dropMarked(drops),
	}
}

// groupsPerConnectionCap refuses a connection's 17th group before the relay sees the request.
func groupsPerConnectionCap() []faultproxy.Rule {
	groups := map[*faultproxy.Conn]map[uuid.UUID]bool{}
	member := func(f *faultproxy.Frame, g uuid.UUID) {
		if groups[f.Conn] == nil {
			groups[f.Conn] = map[uuid.UUID]bool{}
		}
		groups[f.Conn][g] = true
	}
	return []faultproxy.Rule{
		{Name: "count", Dir: faultproxy.ToClient, Match: ok, Apply: func(f *faultproxy.Frame) {
			switch f.RPC.Method {
			case protocol.MethodGroupCreate:
				var id uuid.UUID
				if json.Unmarshal(f.RPC.Result, &id) == nil {
					member(f, id)
				}
			case protocol.MethodGroupJoin:
				var g protocol.Group
				if json.Unmarshal(f.RPC.Result, &g) == nil {
					member(f, g.UUID)
				}
			}
		}},
		{Name: "cap", Dir: faultproxy.ToRelay, Match: func(f *faultproxy.Frame) bool {
			return f.RPC.IsRequest(protocol.MethodGroupCreate) || f.RPC.IsRequest(protocol.MethodGroupJoin)
		}, Apply: func(f *faultproxy.Frame) {
			if len(groups[f.Conn]) < 16 {
				return
			}
			if f.RPC.Method == protocol.MethodGroupJoin {
				var p protocol.GroupJoinParams
				if json.Unmarshal(f.RPC.Params, &p) != nil || groups[f.Conn][p.GroupID] {
					return // a join that fails to decode, or a re-join, is the relay's business
				}
			} else {
				var p protocol.GroupCreateParams
				if json.Unmarshal(f.RPC.Params, &p) != nil || p.Params.Parties <= 1 || p.Params.Threshold == 0 || p.Params.Threshold >= p.Params.Parties {
					return
				}
			}
			f.Drop()
			if f.RPC.ID != nil {
				err := &protocol.Error{Code: protocol.CodeInternal, Message: "this connection has no room for another group"}
				f.Inject(f.Conn, faultproxy.ToClient, protocol.EncodeError(f.RPC.ID, err))
			}
		}},
	}
}

// partiesCountedPerConnection drops the relay's sessionSignup/sessionLoad and sends its own when
// the session's distinct connections, not its party numbers, reach the required count.
func partiesCountedPerConnection() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	fired := map[uuid.UUID]bool{}
	return []faultproxy.Rule{tr.Rule(),
		{Name: "drop", Dir: faultproxy.ToClient, Match: func(f *faultproxy.Frame) bool {
			return f.RPC.IsEvent(protocol.EventSessionSignup) || f.RPC.IsEvent(protocol.EventSessionLoad)
		}, Apply: (*faultproxy.Frame).Drop},
		{Name: "count-connections", Dir: faultproxy.ToClient, Match: joinsParty, Apply: func(f *faultproxy.Frame) {
			name := protocol.EventSessionSignup
			if f.RPC.Method == protocol.MethodSessionLoad {
				name = protocol.EventSessionLoad
			}
			id, named := partySession(f.RPC.Params)
			s := tr.Session(id)
			if !named || s == nil || fired[id] {
				return
			}
			conns := s.PartyConns()
			if len(conns) != tr.Required(s) {
				return
			}
			fired[id] = true
			for _, c := range conns {
				f.Inject(c, faultproxy.ToClient, event(name, id))
			}
		}},
	}
}
