package conformance

import (
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"mpcrelay/relay/protocol"
)

func init() {
	register("2.1", "Requests",
		// §2.1: A request without id is a notification: the relay executes it and sends no
		// success response.
		&Case{
			ID:          "2.1/notification-gets-no-success-response",
			Requirement: "A valid request without id is executed and gets no success response.",
			Level:       Must, Labels: []string{"envelope"},
			Run: func(t *T) {
				a := t.Dial("A")
				frame, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": protocol.MethodGroupCreate,
					"params": protocol.GroupCreateParams{Label: t.Label(), Params: protocol.Parameters{Parties: 2, Threshold: 1}}})
				a.SendRaw(frame)
				if f, ok := a.WaitUnmatched(t.cfg.QuietWindow); ok {
					t.Failf("no response to a notification", "%s", f.Data)
				}
				a.ExpectUsable()
			},
		},
		// §2.1: A request without id is a notification: the relay executes it.
		&Case{
			ID:          "2.1/notification-executed",
			Requirement: "A Notify.proposal sent as a notification (no id) is executed: the other member receives notifyProposal.",
			Level:       Must, Labels: []string{"envelope", "notify"},
			Run: func(t *T) { notifiedProposalArrives(t, "notified", "sent without id", false) },
		},
		// §2.1: "the relay executes it" — also when the client closes right after sending it
		// (Notify.signed, then leave), which a relay running notifications on a task cancelled
		// with the connection does not.
		&Case{
			ID:          "2.1/notification-before-close-executed",
			Requirement: "A Notify.proposal sent as a notification right before its connection closes is executed: the other member receives notifyProposal.",
			Level:       Must, Labels: []string{"envelope", "notify", "lifecycle"},
			Run: func(t *T) { notifiedProposalArrives(t, "last-words", "sent, then closed", true) },
		},
		// §2.1: COMPAT: the original still sends an error object, without id, when it fails.
		&Case{
			ID:          "2.1/failed-notification-answer",
			Requirement: "A failing notification gets no answer, or (COMPAT) an error object without id.",
			Level:       Compat, Labels: []string{"envelope", "errors"},
			Run: func(t *T) {
				a := t.Dial("A")
				a.SendRaw([]byte(`{"jsonrpc":"2.0","method":"No.such","params":[]}`))
				f, ok := a.WaitUnmatched(t.cfg.QuietWindow)
				if !ok {
					return
				}
				in, err := protocol.DecodeIncoming(f.Data)
				if err != nil || in.Error == nil {
					t.Failf("no answer or an error object", "%s", f.Data)
				}
				if in.ID != nil && string(in.ID) != "null" {
					t.Failf("an error without id", "%s", f.Data)
				}
				t.NonStrict("COMPAT: error object sent for a failed notification: %s", f.Data)
			},
		},
		// §1.2, §2.1: a request is a JSON object, whatever its form: a relay that matches bytes
		// (a fast path expecting {"jsonrpc":"2.0", first, or the member names unescaped) refuses
		// what any JSON parser reads as the same request.
		&Case{
			ID:          "2.1/request-in-any-json-form",
			Requirement: "A request written with its members in another order, with white space, or with escaped member names or method is executed like its compact form.",
			Level:       Must, Labels: []string{"envelope", "transport"},
			Run: func(t *T) {
				a := t.Dial("A")
				params := string(mustJSON(protocol.GroupCreateParams{Label: t.Label(), Params: protocol.Parameters{Parties: 2, Threshold: 1}}))
				forms := []string{
					`{"params":%[2]s,"method":"Group.create","id":%[1]d,"jsonrpc":"2.0"}`,
					`{"id":%[1]d,"jsonrpc":"2.0","method":"Group.create","params":%[2]s}`,
					`{"jsonrpc": "2.0", "id": %[1]d, "method": "Group.create", "params": %[2]s}`, // Python's json.dumps
					" \n{ \"jsonrpc\" : \"2.0\" ,\t\"id\" : %[1]d ,\r\n \"method\" : \"Group.create\" , \"params\" : %[2]s }\n",
					`{"jsonrpc":"2.0","id":%[1]d,"m\u0065thod":"Group.create","p\u0061rams":%[2]s}`,
					`{"j\u0073onrpc":"2.0","\u0069d":%[1]d,"method":"Group\u002ecreate","params":%[2]s}`,
				}
				for _, form := range forms {
					id := a.NextID()
					frame := fmt.Sprintf(form, id, params)
					a.SendRaw([]byte(frame))
					f, ok := a.WaitUnmatched(t.cfg.Timeout)
					if !ok {
						t.Failf(fmt.Sprintf("a response to %s", frame), "none within %s (connection %s)", t.cfg.Timeout, a.closedErr())
					}
					in, err := protocol.DecodeIncoming(f.Data)
					var g uuid.UUID
					if err != nil || in.Error != nil || json.Unmarshal(in.Result, &g) != nil {
						t.Failf(fmt.Sprintf("a group uuid in answer to %s", frame), "%s", f.Data)
					}
					if got, ok := in.IDNumber(); !ok || uint64(got) != id {
						t.Failf(fmt.Sprintf("the response to id %d", id), "%s", f.Data)
					}
				}
			},
		},
		// §2.1: the envelope's members are "jsonrpc", "id", "method" and "params", named exactly, as
		// the original's serde reads them; any other member is ignored. So "PARAMS" is no params
		// (§2.3: missing → -32602), "ID" is no id (the request is a notification, §2.1: no success
		// response) and "Method" is no method (not a request, §1.4: -32600 or nothing). A relay
		// that matches names case-insensitively executes all three and answers them with success.
		&Case{
			ID:          "2.1/envelope-member-names-are-exact",
			Requirement: `Member names of the envelope are exact: a Group.create with "PARAMS" is answered -32602; one with "ID":n gets no response (a notification); one with "Method" gets no success response.`,
			Level:       Must, Labels: []string{"envelope", "errors"},
			Run: func(t *T) {
				a := t.Dial("A")
				params := string(mustJSON(protocol.GroupCreateParams{Label: t.Label(), Params: protocol.Parameters{Parties: 2, Threshold: 1}}))
				id := a.NextID()
				frame := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"Group.create","PARAMS":%s}`, id, params)
				a.SendRaw([]byte(frame))
				f, ok := a.WaitUnmatched(t.cfg.Timeout)
				if !ok {
					t.Failf(fmt.Sprintf("a response to %s", frame), "none within %s (connection %s)", t.cfg.Timeout, a.closedErr())
				}
				if in, err := protocol.DecodeIncoming(f.Data); err != nil || in.Error == nil || in.Error.Code != protocol.CodeInvalidParams {
					t.Failf(fmt.Sprintf(`error -32602 (params missing: "PARAMS" is not "params") in answer to %s`, frame), "%s", f.Data)
				}
				method := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"Method":"Group.create","params":%s}`, a.NextID(), params)
				noteID := a.NextID()
				notification := fmt.Sprintf(`{"jsonrpc":"2.0","ID":%d,"method":"Group.create","params":%s}`, noteID, params)
				a.SendRaw([]byte(method))
				a.SendRaw([]byte(notification))
				a.ExpectUsable() // answered after whatever the two frames get (§1.3)
				for {
					f, ok := a.WaitUnmatched(t.cfg.QuietWindow)
					if !ok {
						break
					}
					in, err := protocol.DecodeIncoming(f.Data)
					if n, _ := in.IDNumber(); err == nil && in.Error != nil && uint64(n) != noteID {
						continue // the refusal of the frame without "method" (§1.4 SHOULD)
					}
					t.Failf(fmt.Sprintf(`no success response to %s and no response to the notification %s ("ID" is not "id")`, method, notification), "%s", f.Data)
				}
			},
		},
	)
	register("2.2", "Success responses",
		// §2.2: Success: {"jsonrpc":"2.0","id":7,"result":<value>}.
		&Case{
			ID:          "2.2/success-envelope",
			Requirement: `A success response is {"jsonrpc":"2.0","id":<request id>,"result":...} without "error".`,
			Level:       Must, Labels: []string{"envelope"},
			Run: func(t *T) {
				a := t.Dial("A")
				resp := a.OK(protocol.MethodGroupCreate, protocol.GroupCreateParams{Label: t.Label(), Params: protocol.Parameters{Parties: 2, Threshold: 1}}, nil)
				var raw map[string]json.RawMessage
				if err := json.Unmarshal(resp.Raw, &raw); err != nil {
					t.Failf("a JSON object", "%s", resp.Raw)
				}
				if string(raw["jsonrpc"]) != `"2.0"` {
					t.Failf(`"jsonrpc":"2.0"`, "%s", resp.Raw)
				}
				if _, ok := raw["result"]; !ok {
					t.Failf(`a "result" member`, "%s", resp.Raw)
				}
				if _, ok := raw["error"]; ok {
					t.Failf(`no "error" member in a success response`, "%s", resp.Raw)
				}
			},
		},
		// §2.2: a relay SHOULD send "result":null for the methods that return nothing (the
		// omitted form is Non-strict).
		&Case{
			ID:          "2.2/void-result-is-null",
			Requirement: `Methods that return nothing answer with "result":null.`,
			Level:       Should, Labels: []string{"envelope"},
			Run: func(t *T) {
				g := t.NewGroup(2, 1, 2)
				s := g.NewSession(protocol.KindSign, nil)
				resp := g.Members[0].OK(protocol.MethodNotifyProposal, protocol.NotifyProposalParams{GroupID: g.ID, SessionID: s.ID, ProposalID: "p1", Message: "m"}, nil)
				if !resp.HasResult {
					t.NonStrict(`COMPAT: "result" omitted: %s`, resp.Raw)
					return
				}
				if string(resp.Result) != "null" {
					t.Failf(`"result":null`, "%s", resp.Raw)
				}
			},
		},
	)

	// §2.3: -32602 params that do not decode into the shape in §3 (missing, wrong type, wrong
	// arity, a uuid that is not a UUID string, a number outside u16, an unknown kind).
	var invalid []*Case
	for _, ip := range invalidParams {
		invalid = append(invalid, &Case{
			ID:          "2.3/invalid-params-" + ip.slug,
			Requirement: fmt.Sprintf("%s with %s is answered with error -32602.", ip.method, ip.what),
			Level:       Must, Labels: []string{"envelope", "errors"},
			Run: func(t *T) {
				a := t.Dial("A")
				g := a.CreateGroup(t.Label(), 2, 1)
				s := a.CreateSession(g, protocol.KindKeygen, nil)
				params := ip.params(g, s.UUID)
				resp := a.Raw(ip.method, params)
				if resp.Error == nil || resp.Error.Code != protocol.CodeInvalidParams {
					t.Failf(fmt.Sprintf("error -32602 for %s params %s", ip.method, short(params)), "%s", resp.Raw)
				}
			},
		})
	}
	register("2.3", "Errors", append([]*Case{
		// §2.3: -32601 unknown method.
		{
			ID:          "2.3/unknown-method",
			Requirement: "An unknown method is answered with error -32601.",
			Level:       Must, Labels: []string{"envelope", "errors"},
			Run: func(t *T) {
				a := t.Dial("A")
				a.ExpectError("Group.destroy", json.RawMessage(`[]`), protocol.CodeMethodNotFound)
			},
		},
		// §2.3: error objects are {"code":<int>,"message":<string>,...} answering the request id.
		{
			ID:          "2.3/error-envelope",
			Requirement: `An error response carries the request id and an error object with an integer code and a string message.`,
			Level:       Must, Labels: []string{"envelope", "errors"},
			Run: func(t *T) {
				a := t.Dial("A")
				resp := a.Raw(protocol.MethodGroupJoin, uuid.New())
				var raw struct {
					ID    json.RawMessage `json:"id"`
					Error *struct {
						Code    *int    `json:"code"`
						Message *string `json:"message"`
					} `json:"error"`
					Result json.RawMessage `json:"result"`
				}
				if err := json.Unmarshal(resp.Raw, &raw); err != nil || raw.Error == nil || raw.Error.Code == nil || raw.Error.Message == nil {
					t.Failf(`{"jsonrpc":"2.0","id":N,"error":{"code":int,"message":string}}`, "%s", resp.Raw)
				}
				if raw.Result != nil {
					t.Failf(`no "result" beside "error"`, "%s", resp.Raw)
				}
				if *raw.Error.Code != protocol.CodeInternal {
					t.Failf("error code -32603 for an unknown group", "%d", *raw.Error.Code)
				}
			},
		},
	}, invalid...)...)
	register("2.4", "Events",
		// §2.4: Events always carry "id":0 and result ["<eventName>", <payload>].
		&Case{
			ID:          "2.4/event-envelope",
			Requirement: `An event is {"jsonrpc":"2.0","id":0,"result":["<name>",<payload>]}.`,
			Level:       Must, Labels: []string{"envelope", "events"},
			Run: func(t *T) {
				g := t.NewGroup(2, 1, 2)
				g.NewSession(protocol.KindKeygen, nil)
				b := g.Members[1]
				var frame []byte
				t.Eventually(func() bool {
					for _, f := range b.Received() {
						if !f.Binary && json.Valid(f.Data) && !isResponseTo(f.Data, b) {
							frame = f.Data
							return true
						}
					}
					return false
				}, t.cfg.Timeout, "10ms").Should(beTrueMsg("a frame (the sessionCreate event) on B"))
				var raw struct {
					JSONRPC string            `json:"jsonrpc"`
					ID      json.RawMessage   `json:"id"`
					Result  []json.RawMessage `json:"result"`
				}
				if err := json.Unmarshal(frame, &raw); err != nil || raw.JSONRPC != "2.0" || string(raw.ID) != "0" || len(raw.Result) != 2 || string(raw.Result[0]) != `"sessionCreate"` {
					t.Failf(`{"jsonrpc":"2.0","id":0,"result":["sessionCreate",{...}]}`, "%s", frame)
				}
			},
		},
	)
}

// isResponseTo reports whether frame answers one of c's own calls (ids the client issued are
// positive; the event id is 0).
func isResponseTo(frame []byte, c *Conn) bool {
	in, err := protocol.DecodeIncoming(frame)
	if err != nil {
		return false
	}
	n, ok := in.IDNumber()
	return ok && n > 0 && uint64(n) <= c.NextID()
}

type invalidParam struct {
	slug, method, what string
	params             func(g, s uuid.UUID) json.RawMessage
}

func rawf(format string, args ...any) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(format, args...))
}

var invalidParams = []invalidParam{
	{"missing", protocol.MethodGroupCreate, "no params", func(g, s uuid.UUID) json.RawMessage { return nil }},
	{"wrong-type", protocol.MethodGroupCreate, "an object instead of an array", func(g, s uuid.UUID) json.RawMessage {
		return rawf(`{"label":"x","parties":2}`)
	}},
	{"wrong-arity", protocol.MethodSessionSignup, "two of its three elements", func(g, s uuid.UUID) json.RawMessage {
		return rawf(`[%q,%q]`, g, s)
	}},
	{"not-a-uuid", protocol.MethodSessionJoin, "a group id that is not a UUID", func(g, s uuid.UUID) json.RawMessage {
		return rawf(`["not-a-uuid",%q,"keygen"]`, s)
	}},
	{"outside-u16", protocol.MethodGroupCreate, "parties 70000 (outside u16)", func(g, s uuid.UUID) json.RawMessage {
		return rawf(`["x",{"parties":70000,"threshold":1}]`)
	}},
	{"unknown-kind", protocol.MethodSessionCreate, `kind "refresh"`, func(g, s uuid.UUID) json.RawMessage {
		return rawf(`[%q,"refresh",null]`, g)
	}},
	{"join-array", protocol.MethodGroupJoin, "an array instead of the bare uuid string", func(g, s uuid.UUID) json.RawMessage {
		return rawf(`[%q]`, g)
	}},
	{"message-missing-round", protocol.MethodSessionMessage, "a message without round (§3.5)", func(g, s uuid.UUID) json.RawMessage {
		return rawf(`[%q,%q,"keygen",{"sender":1,"uuid":%q,"body":1}]`, g, s, s)
	}},
	{"load-number-string", protocol.MethodSessionLoad, "a party number that is a string", func(g, s uuid.UUID) json.RawMessage {
		return rawf(`[%q,%q,"keygen","1"]`, g, s)
	}},
}

// notifiedProposalArrives has a member send Notify.proposal as a notification (no id, §2.1),
// then close its connection when thenClose, and requires the other member to receive it.
func notifiedProposalArrives(t *T, proposalID, message string, thenClose bool) {
	g := t.NewGroup(2, 1, 2)
	s := g.NewSession(protocol.KindSign, nil)
	a, b := g.Members[0], g.Members[1]
	ctx, cancel := t.ctxTimeout()
	defer cancel()
	p := protocol.NotifyProposalParams{GroupID: g.ID, SessionID: s.ID, ProposalID: proposalID, Message: message}
	if err := a.Notify(ctx, protocol.MethodNotifyProposal, p); err != nil {
		t.Failf("the relay accepts a notification frame", "write failed: %v (connection %s)", err, a.closedErr())
	}
	if thenClose {
		_ = a.Close()
	}
	ev := b.WaitEvent(protocol.EventNotifyProposal, s.ID)
	expectJSON(t, "notifyProposal payload", ev.Payload, mustJSON(protocol.Proposal{SessionID: s.ID.String(), ProposalID: p.ProposalID, Message: p.Message}))
}
