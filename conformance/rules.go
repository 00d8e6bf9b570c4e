package conformance

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Rule is one numbered requirement of PROTOCOL.md and the cases that check it: the suite's
// coverage is counted in rules, not cases. Ids are stable: "<section>.<what>".
type Rule struct {
	ID    string
	Level Level
	Text  string   // the requirement as PROTOCOL.md states it, in one sentence
	Cases []string // ids of the cases that check it
}

// Section is the protocol section of the rule ("4.5" for "4.5.event-exactly-once").
func (r Rule) Section() string {
	parts := strings.Split(r.ID, ".")
	var num []string
	for _, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			break
		}
		num = append(num, p)
	}
	return strings.Join(num, ".")
}

// The rules of PROTOCOL.md. MUST covers what the protocol marks MUST and, as its "Words" say,
// every envelope form of §2, every rule of §4 that names an error code and every statement of
// who receives an event. Left out: the client's duties of §2.2 (accepting both void forms),
// which no relay can be checked for.
var rules = []Rule{
	// §1 Transport
	{"1.1.deployment", Info, "WebSocket on one path; TLS (wss://) is a deployment option. Checked as the reference relay's own promises to browser wallets: wss://, --allowed-origins at the upgrade, --static pages cross-origin isolated.",
		ids("1.1/browser-wss-test-certificate", "1.1/browser-origin-refused-at-upgrade", "1.1/browser-static-coop-coep")},
	{"1.1.websocket-control-frames", Must, "The relay speaks RFC 6455 as §1.1 says: a ping is answered with a pong carrying its application data, and a message in fragments, with a control frame between them, is read as one.",
		ids("1.1/ping-answered-with-its-payload", "1.1/fragmented-request-with-ping-between")},
	{"1.2.binary-frame-ignored", Must, "A binary frame is ignored and does not close the connection.",
		ids("1.2/binary-frame-ignored", "1.2/binary-request-not-executed")},
	{"1.2.text-frame-one-object", Must, "Every frame the relay writes is a text frame holding exactly one JSON object.",
		ids("1.2/relay-frames-are-json-text")},
	{"1.2.batches", Info, "Batches (JSON arrays) are ignored or rejected.",
		ids("1.2/batch-ignored-or-rejected")},
	{"1.3.requests-in-order", Must, "The requests of one connection are processed, and answered, in the order they arrive.",
		ids("1.3/requests-answered-in-order")},
	{"1.3.response-before-event", Must, "The response to a request is written to the caller before any event the same request triggers.",
		ids("4.5/signup-event-after-caller-response")},
	{"1.3.stream-order", Must, "A relay writes to one connection in the order it produced the frames: a receiver gets each sender's messages in the order they were sent.",
		ids("1.3/stream-order-under-volume", "1.3/quiet-receivers-get-a-long-stream")},
	{"1.4.garbage-keeps-connection", Must, "Frames that are not JSON, or not a request object, do not crash the relay or close the connection.",
		ids("1.4/garbage-keeps-connection-usable")},
	{"1.4.parse-error-answered", Should, "A frame that is not JSON is answered -32700 with id null.",
		ids("1.4/parse-error-answered")},
	{"1.4.invalid-request-answered", Should, "A JSON frame that is not a request object is answered -32600.",
		ids("1.4/invalid-request-answered")},

	// §2 Envelopes
	{"2.1.notification-no-success-response", Must, "A request without id is a notification: the relay sends no success response.",
		ids("2.1/notification-gets-no-success-response")},
	{"2.1.notification-executed", Must, "The relay executes a notification like the same request with an id.",
		ids("2.1/notification-executed", "2.1/notification-before-close-executed")},
	{"2.1.request-any-json-form", Must, "A request is read as JSON: members in any order, white space, escaped member names and method are executed like the compact form.",
		ids("2.1/request-in-any-json-form")},
	{"2.1.failed-notification", Compat, "A failing notification gets no answer (COMPAT: an error object without id).",
		ids("2.1/failed-notification-answer")},
	{"2.2.success-envelope", Must, `A success response is {"jsonrpc":"2.0","id":<the request's id>,"result":<value>}.`,
		ids("2.2/success-envelope")},
	{"2.2.void-result-null", Should, `Methods that return nothing answer "result":null (omitting it is non-strict).`,
		ids("2.2/void-result-is-null")},
	{"2.3.error-envelope", Must, `An error response carries the request's id and {"code":<int>,"message":<string>}, and no result.`,
		ids("2.3/error-envelope")},
	{"2.3.unknown-method", Must, "An unknown method is answered -32601.",
		ids("2.3/unknown-method")},
	{"2.3.invalid-params", Must, "Params that do not decode into the shape of §3 (missing, wrong type or arity, not a UUID, outside u16, unknown kind) are answered -32602.",
		prefixed("2.3/invalid-params-")},
	{"2.3.rule-errors-internal", Must, "A request that breaks a rule of the protocol is answered -32603.",
		ids("2.3/error-envelope", "4.1/parties-must-exceed-one", "4.2/join-unknown-group", "4.3/create-in-unknown-group",
			"4.4/join-unknown-session", "4.5/signup-unknown-session", "4.6/load-zero-refused", "4.7/peer-to-peer-unknown-receiver",
			"4.7/message-unknown-session", "4.8/finish-unknown-party", "6.1/empty-group-deleted")},
	{"2.4.event-envelope", Must, `An event is {"jsonrpc":"2.0","id":0,"result":["<eventName>",<payload>]}.`,
		ids("2.4/event-envelope")},
	{"2.5.close-connection-closes", Must, `After an error whose data is "close-connection" the relay closes the connection.`,
		ids("4.2/full-group-closes-connection", "4.2/concurrent-joins-fill-group-exactly")},

	// §3 Objects
	{"3.member-names-exact", Must, `Member names of the envelope and of every object are matched exactly, case included, as the original's serde reads them: a member named in another case ("Receiver", "ROUND", "Parties", "ID", "PARAMS") is an unknown member, ignored.`,
		ids("2.1/envelope-member-names-are-exact", "3.1/parameter-member-names-are-exact", "3.5/message-member-names-are-exact", "4.7/receiver-member-name-is-exact")},
	{"3.3.session-object", Must, "Session.create returns the session object {uuid, kind, value} with the value exactly as sent, whatever JSON it is.",
		ids("3.3/session-object-carries-value", "3.3/value-round-trips-every-json-type")},
	{"3.5.message-fields-required", Must, "A message without round, sender or uuid is refused with -32602.",
		ids("2.3/invalid-params-message-missing-round", "3.5/message-member-names-are-exact")},
	{"3.5.absent-receiver", Info, "An absent receiver is forwarded as null (COMPAT) or left absent.",
		ids("3.5/absent-receiver-forwarded")},
	{"3.6.groups-independent", Must, "Groups are independent: a session is reachable only through its own group, even by a connection that belongs to both.",
		ids("3.6/session-of-another-group-does-not-exist", "6.2/many-concurrent-groups", "3.6/message-uuid-field-does-not-route", "3.6/many-groups-none-evicted")},
	{"3.6.sessions-independent", Must, "Sessions of one group are independent: party numbers, signups, loads, finishes, messages and events of one never change or reach another.",
		ids("3.6/sessions-in-one-group-independent", "3.6/many-sessions-none-evicted")},
	{"3.6.fresh-uuids", Must, "Every group and session uuid is fresh: no two of them, groups and sessions alike, share one.",
		ids("3.6/uuids-fresh")},
	{"3.6.events-when-rule-fires", Must, "An event goes to the connections its rule names at the moment the rule fires, and at no other time.",
		ids("3.6/no-past-events-for-new-member")},

	// §4.1 Group.create
	{"4.1.returns-group-uuid", Must, "Group.create creates a group whose only member is the caller and returns its uuid string.",
		ids("4.1/create-returns-uuid")},
	{"4.1.parties-above-one", Must, "Group.create with parties <= 1 is refused with -32603.",
		ids("4.1/parties-must-exceed-one")},
	{"4.1.threshold-positive", Must, "Group.create with threshold 0 is refused with -32603.",
		ids("4.1/threshold-must-be-positive")},
	{"4.1.threshold-below-parties", Must, "Group.create with threshold >= parties is refused with -32603.",
		ids("4.1/threshold-below-parties")},

	// §4.2 Group.join
	{"4.2.unknown-group", Must, "Group.join of an unknown group is refused with -32603.",
		ids("4.2/join-unknown-group")},
	{"4.2.full-group-refused", Must, `Group.join of a full group is refused with -32603 and data "close-connection".`,
		ids("4.2/full-group-closes-connection", "4.2/concurrent-joins-fill-group-exactly")},
	{"4.2.join-idempotent", Must, "Joining a group twice is idempotent: the member keeps one place.",
		ids("4.2/join-twice-idempotent")},
	{"4.2.join-returns-group", Must, "Group.join returns the group object {uuid, params, label}, the label exactly as created.",
		ids("4.2/join-returns-group", "4.2/label-round-trips-unicode")},
	{"4.2.member-rejoins-full-group", Compat, "A member re-joining its full group is accepted (COMPAT: refused with close-connection).",
		ids("4.2/member-rejoins-full-group")},

	// §4.3 Session.create
	{"4.3.membership-required", Must, "Every method naming a group (Notify.proposal aside) refuses a caller that is not a member with -32603.",
		prefixed("4.3/membership-required-")},
	{"4.3.unknown-group", Must, "Session.create in an unknown group is refused with -32603.",
		ids("4.3/create-in-unknown-group")},
	{"4.3.keygen-create-event", Must, "Creating a keygen session sends sessionCreate with the session object to every other member of the group, not to the caller.",
		ids("4.3/keygen-create-event-to-other-members", "7/browser-keygen-flow", "7/forty-party-keygen")},
	{"4.3.sign-create-no-event", Must, "Creating a sign session sends no event.",
		ids("4.3/sign-create-sends-no-event")},
	{"4.3.create-without-value", Info, "Session.create with [group_id, kind] is accepted or refused.",
		ids("4.3/create-without-value")},

	// §4.4 Session.join
	{"4.4.unknown-session", Must, "Session.join of an unknown session, or of a session of another group, is refused with -32603.",
		ids("4.4/join-unknown-session", "3.6/session-of-another-group-does-not-exist")},
	{"4.4.join-returns-session", Must, "Session.join returns the session object, value included exactly as created.",
		ids("4.4/join-returns-session", "3.3/value-round-trips-every-json-type", "4.4/join-with-other-kind-returns-own-kind")},
	{"4.4.join-not-a-party", Must, "Joining a session does not make the caller a party.",
		ids("4.4/join-does-not-make-a-party")},

	// §4.5 Session.signup
	{"4.5.numbers-from-one", Must, "Session.signup issues party numbers 1, 2, 3, ... in signup order.",
		ids("4.5/signup-numbers-from-one", "4.5/concurrent-signups-distinct-numbers")},
	{"4.5.numbers-after-load", Must, "The next signup number is one more than the last number issued or loaded.",
		ids("4.6/signup-after-load-continues-numbering", "4.5/numbers-past-255-and-none-past-65535")},
	{"4.5.event-at-required-count", Must, "sessionSignup fires when the parties of the session become exactly the required count (parties for keygen, threshold+1 for sign), and not before.",
		ids("4.5/signup-event-exactly-at-threshold", "4.5/sign-event-at-threshold-plus-one", "4.4/join-does-not-make-a-party")},
	{"4.5.event-to-every-party", Must, "sessionSignup, with the session uuid, goes to every party of the session, the caller included.",
		ids("4.5/signup-event-exactly-at-threshold", "4.5/sign-event-at-threshold-plus-one", "4.5/signup-event-after-caller-response", "7/browser-keygen-flow", "7/browser-sign-flow", "7/forty-party-keygen")},
	{"4.5.event-exactly-once", Must, "Each party receives sessionSignup exactly once.",
		ids("4.5/signup-event-exactly-once", "4.5/sign-event-at-threshold-plus-one", "4.5/concurrent-signups-distinct-numbers")},
	{"4.5.beyond-required-no-event", Must, "A signup beyond the required count triggers no sessionSignup.",
		ids("4.5/signup-beyond-required-sends-no-event")},
	{"4.5.unknown-session", Must, "Session.signup for an unknown session is refused with -32603.",
		ids("4.5/signup-unknown-session")},
	{"4.5.beyond-required-refused", Should, "A signup beyond the required count is refused with -32603 (COMPAT: a number is issued).",
		ids("4.5/signup-beyond-required-refused")},
	{"4.5.required-count-from-kind", Compat, "The required count follows the session's kind (COMPAT: the kind in the params).",
		ids("4.5/required-count-from-session-kind")},

	// §4.6 Session.load
	{"4.6.number-not-zero", Must, "Session.load of number 0 is refused with -32603.",
		ids("4.6/load-zero-refused")},
	{"4.6.number-in-range", Must, "Session.load of a number above parties is refused with -32603.",
		ids("4.6/load-out-of-range-refused")},
	{"4.6.number-not-taken", Must, "Session.load of a number already held in the session is refused with -32603.",
		ids("4.6/load-taken-refused", "4.6/concurrent-loads-of-one-number")},
	{"4.6.returns-number", Must, "Session.load returns the number claimed.",
		ids("4.6/load-returns-number")},
	{"4.6.event-at-required-count", Must, "When the parties reach the required count, sessionLoad with the session uuid goes to every party, exactly once.",
		ids("4.6/load-event-at-threshold", "4.6/concurrent-loads-complete-once", "4.6/departed-party-not-counted")},
	{"4.6.load-with-sign-kind", Info, "Session.load with kind sign is accepted or refused.",
		ids("4.6/load-with-sign-kind")},

	// §4.7 Session.message
	{"4.7.session-must-exist", Must, "Session.message for an unknown session is refused with -32603.",
		ids("4.7/message-unknown-session")},
	{"4.7.p2p-to-receiver-only", Must, "A message with a receiver number goes to the connection holding that number in the session, and to no one else.",
		ids("4.7/peer-to-peer-only-to-receiver", "1.3/stream-order-under-volume", "7/eddsa-keygen-and-sign", "7/ecdsa-keygen-and-sign", "6.1/departed-party-numbers-reach-no-new-connection", "7/forty-party-keygen", "4.7/peer-to-peer-reaches-a-reloaded-number")},
	{"4.7.unknown-receiver", Must, "A message to a receiver number no party holds is refused with -32603.",
		ids("4.7/peer-to-peer-unknown-receiver")},
	{"4.7.broadcast-to-other-parties", Must, "A broadcast goes to every party of the session except the caller.",
		ids("4.7/broadcast-reaches-every-other-party", "1.3/stream-order-under-volume", "4.7/broadcast-skips-the-caller-not-the-sender-field", "6.1/departed-party-numbers-reach-no-new-connection", "7/forty-party-keygen", "4.7/receiver-member-name-is-exact")},
	{"4.7.broadcast-not-echoed", Must, "A broadcast is not sent back to its sender.",
		ids("4.7/broadcast-not-echoed-to-sender", "4.7/broadcast-skips-the-caller-not-the-sender-field")},
	{"4.7.non-parties-receive-nothing", Must, "Group members that are not parties of the session receive none of its messages.",
		ids("4.7/broadcast-not-to-non-parties")},
	{"4.7.fields-unchanged", Must, "The relay forwards round, sender, receiver and uuid unchanged.",
		ids("4.7/broadcast-reaches-every-other-party", "4.7/peer-to-peer-only-to-receiver", "4.7/body-intact-structured", "4.7/broadcast-skips-the-caller-not-the-sender-field", "3.6/message-uuid-field-does-not-route")},
	{"4.7.body-equal-json", Must, "The body arrives as equal JSON: every JSON type and value, numbers exact, strings to the code point.",
		ids("4.7/body-intact-structured", "4.7/body-every-json-type", "4.7/body-intact-256kib", "1.3/stream-order-under-volume",
			"7/eddsa-keygen-and-sign", "7/ecdsa-keygen-and-sign", "7/browser-keygen-flow")},
	{"4.7.frame-limit-1mib", Must, "The relay's frame limit is at least 1 MiB: a body filling a 1 MiB frame arrives intact.",
		ids("4.7/body-intact-1mib", "4.7/body-intact-256kib", "4.7/frames-of-1mib-and-more")},

	// §4.8 Session.finish
	{"4.8.finish-unknown-party", Must, "Session.finish with a number that is no party of the session is refused with -32603.",
		ids("4.8/finish-unknown-party")},
	{"4.8.finish-for-another-refused", Must, "Session.finish with another connection's party number is refused with -32603.",
		ids("4.8/finish-for-another-party-refused")},
	{"4.8.closed-when-all-finished", Must, "sessionClosed is sent when every party of the session has finished, and not before.",
		ids("4.8/closed-after-every-party-finished", "4.8/closed-sent-once", "4.8/finish-for-another-party-refused", "4.8/closed-numbers-ascending-as-numbers", "4.8/concurrent-finishes-close-once", "4.8/closes-without-a-departed-party")},
	{"4.8.closed-to-every-party", Must, "sessionClosed, with the ascending array of party numbers, goes to every party of the session and to no one else.",
		ids("4.8/closed-after-every-party-finished", "4.8/closed-numbers-ascending-as-numbers", "7/forty-party-keygen")},
	{"4.8.closed-once", Must, "sessionClosed is sent once per session.",
		ids("4.8/closed-sent-once", "4.8/concurrent-finishes-close-once")},
	{"4.8.repeated-finish", Compat, "A repeated finish sends no second sessionClosed (COMPAT: sent again).",
		ids("4.8/repeated-finish")},

	// §4.9, §4.10 Notify
	{"4.9.proposal-to-other-members", Must, "Notify.proposal sends notifyProposal {sessionId, proposalId, message}, strings exactly as sent, to every member of the group except the caller.",
		ids("4.9/proposal-to-other-members", "4.9/proposal-strings-round-trip", "7/forty-party-keygen", "4.9/proposal-only-to-members")},
	{"4.9.proposal-not-to-sender", Must, "Notify.proposal sends nothing back to the caller.",
		ids("4.9/proposal-not-to-sender")},
	{"4.9.non-member-refused", Should, "Notify.proposal from a non-member is refused with -32603 (COMPAT: accepted).",
		ids("4.9/proposal-from-non-member-refused")},
	{"4.10.signed-to-non-parties", Must, "Notify.signed sends notifySigned with the value, exactly as sent, to every member that is not a party of the session.",
		ids("4.10/signed-to-non-signers", "4.10/signed-value-every-json-type", "7/ecdsa-keygen-and-sign", "7/browser-sign-flow")},
	{"4.10.signed-not-to-parties", Must, "Notify.signed sends nothing to the parties of the session.",
		ids("4.10/signed-not-to-signers")},

	// §6 Connection lifecycle
	{"6.1.empty-group-deleted", Must, "A group left with no members is deleted: a later Group.join finds no group.",
		ids("6.1/empty-group-deleted", "6.1/concurrent-closes-delete-group")},
	{"6.1.closed-member-removed", Must, "When a connection closes, the relay removes it from every group.",
		ids("6.1/closed-member-frees-its-place", "6.1/cut-connection-frees-its-place")},
	{"6.2.misbehaving-sender", Must, "A connection sending garbage or huge frames does not disturb the relay's service to others.",
		ids("6.2/garbage-does-not-disturb-others")},
	{"6.2.stalled-reader", Must, "A connection that stops reading does not stop the relay serving others.",
		ids("6.2/stalled-reader-does-not-block-others")},
	{"6.2.disconnect-mid-session", Must, "A party disconnecting mid-session does not stop the relay routing between the others.",
		ids("6.2/disconnect-mid-session")},
}

func ids(cases ...string) []string { return cases }

// prefixed names every case whose id starts with prefix (families such as 2.3/invalid-params-*),
// resolved when the table is first read, after every case file registered.
func prefixed(prefix string) []string { return []string{prefix + "*"} }

var resolveRules sync.Once

// Rules returns the rule table in protocol order, each rule's cases resolved to case ids.
func Rules() []Rule {
	resolveRules.Do(func() {
		for i := range rules {
			var out []string
			for _, id := range rules[i].Cases {
				if p, ok := strings.CutSuffix(id, "*"); ok {
					for _, c := range Cases() {
						if strings.HasPrefix(c.ID, p) {
							out = append(out, c.ID)
						}
					}
					continue
				}
				out = append(out, id)
			}
			rules[i].Cases = out
		}
		slices.SortStableFunc(rules, func(a, b Rule) int { return compareSection(a.Section(), b.Section()) })
	})
	out := make([]Rule, len(rules))
	for i, r := range rules {
		r.Cases = slices.Clone(r.Cases)
		out[i] = r
	}
	return out
}

// LookupRule finds a rule by id.
func LookupRule(id string) (Rule, bool) {
	for _, r := range Rules() {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}

// CheckRules reports what is wrong with the rule table: unknown or duplicate ids, MUST rules
// without a case, cases that check no rule.
func CheckRules() []string {
	var problems []string
	seen := map[string]bool{}
	listed := map[string]bool{}
	for _, r := range Rules() {
		if seen[r.ID] {
			problems = append(problems, fmt.Sprintf("rule %s listed twice", r.ID))
		}
		seen[r.ID] = true
		if r.Section() == "" || !strings.HasPrefix(r.ID, r.Section()+".") {
			problems = append(problems, fmt.Sprintf("rule id %q does not start with its section", r.ID))
		}
		if len(r.Cases) == 0 {
			problems = append(problems, fmt.Sprintf("%s rule %s has no case", r.Level, r.ID))
		}
		for _, id := range r.Cases {
			if _, ok := Lookup(id); !ok {
				problems = append(problems, fmt.Sprintf("rule %s names unknown case %q", r.ID, id))
			}
			listed[id] = true
		}
	}
	for _, c := range Cases() {
		if c.section.Number == "explore" {
			continue // the exploration checks every frame against the model, not one rule
		}
		if !listed[c.ID] {
			problems = append(problems, fmt.Sprintf("case %s checks no rule of the table", c.ID))
		}
	}
	return problems
}
