package conformance

import (
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/onsi/gomega"

	"mpcrelay/relay/protocol"
)

func init() {
	register("3.1", "Parameters",
		// §3.1: Parameters are {"parties": n, "threshold": t}, names exact as the original's serde
		// reads them: "Parties" is an unknown member, ignored. So parties is missing (§2.3:
		// -32602), and a "Parties" beside "parties" changes nothing. A relay that matches names
		// case-insensitively creates the first group and refuses the last with -32603.
		&Case{
			ID:          "3.1/parameter-member-names-are-exact",
			Requirement: `Group.create with {"Parties":3,"threshold":1} or {"parties":3,"THRESHOLD":1} is refused with -32602 (a member missing); with {"parties":3,"threshold":1,"Parties":1} it creates a group of 3.`,
			Level:       Must, Labels: []string{"objects", "errors"},
			Run: func(t *T) {
				a := t.Dial("A")
				for _, p := range []string{`{"Parties":3,"threshold":1}`, `{"parties":3,"THRESHOLD":1}`} {
					a.ExpectError(protocol.MethodGroupCreate, rawf(`[%q,%s]`, t.Label(), p), protocol.CodeInvalidParams)
				}
				var id uuid.UUID
				a.OK(protocol.MethodGroupCreate, rawf(`[%q,{"parties":3,"threshold":1,"Parties":1}]`, t.Label()), &id)
				b := t.Dial("B")
				var g protocol.Group
				b.OK(protocol.MethodGroupJoin, id, &g)
				if g.Params != (protocol.Parameters{Parties: 3, Threshold: 1}) {
					t.Failf(`a group of parties 3, threshold 1 ("Parties":1 ignored)`, "%+v", g.Params)
				}
			},
		},
	)
	register("3.3", "Session",
		// §3.3: Session: {"uuid", "kind", "value"}; value is public data the creator attaches.
		&Case{
			ID:          "3.3/session-object-carries-value",
			Requirement: "Session.create returns {uuid, kind, value} with a fresh UUID and the value as sent.",
			Level:       Must, Labels: []string{"objects", "session"},
			Run: func(t *T) {
				a := t.Dial("A")
				g := a.CreateGroup(t.Label(), 3, 1)
				value := map[string]any{"message": "0xdeadbeef", "chain": 1, "nested": []any{true, nil, 1.5}}
				resp := a.OK(protocol.MethodSessionCreate, protocol.SessionCreateParams{GroupID: g, Kind: protocol.KindSign, Value: mustJSON(value)}, nil)
				var s struct {
					UUID  string          `json:"uuid"`
					Kind  string          `json:"kind"`
					Value json.RawMessage `json:"value"`
				}
				t.Expect(json.Unmarshal(resp.Result, &s)).To(gomega.Succeed())
				if _, err := uuid.Parse(s.UUID); err != nil {
					t.Failf("a UUID string as session uuid", "%q", s.UUID)
				}
				t.Expect(s.Kind).To(gomega.Equal("sign"))
				expectJSON(t, "the session value", s.Value, mustJSON(value))
			},
		},
	)
	register("3.3", "Session",
		// §3.3: value is public data the creator attaches: <any JSON or null>; Session.create,
		// sessionCreate (§4.3) and Session.join (§4.4) carry it exactly.
		&Case{
			ID:          "3.3/value-round-trips-every-json-type",
			Requirement: `A session value of every JSON type (0, "", false, null, big and precise numbers, escapes, Unicode, nesting) comes back exactly in Session.create, sessionCreate and Session.join.`,
			Level:       Must, Labels: []string{"objects", "session", "events"},
			Run: func(t *T) {
				g := t.NewGroup(2, 1, 2)
				a, b := g.Members[0], g.Members[1]
				for _, v := range jsonValues {
					var created protocol.Session
					a.OK(protocol.MethodSessionCreate, protocol.SessionCreateParams{GroupID: g.ID, Kind: protocol.KindKeygen, Value: v}, &created)
					expectJSON(t, "the value in Session.create's result", nullIfAbsent(created.Value), v)
					ev := b.WaitEvent(protocol.EventSessionCreate, created.UUID)
					var pushed struct {
						Value json.RawMessage `json:"value"`
					}
					if err := json.Unmarshal(ev.Payload, &pushed); err != nil {
						t.Failf("a session object in sessionCreate", "%s", short(ev.Payload))
					}
					expectJSON(t, "the value in sessionCreate", nullIfAbsent(pushed.Value), v)
					joined := b.JoinSession(g.ID, created.UUID, protocol.KindKeygen)
					expectJSON(t, "the value in Session.join's result", nullIfAbsent(joined.Value), v)
				}
			},
		},
	)
	register("3.5", "Message",
		// §3.5: round, sender and uuid are required (missing → -32602), and a member is named
		// exactly, as the original's serde reads it: "ROUND", "Sender" and "UUID" are unknown
		// members, so the message lacks round, sender or uuid. A relay that matches names
		// case-insensitively accepts these messages and routes them.
		&Case{
			ID:          "3.5/message-member-names-are-exact",
			Requirement: `A message whose round, sender or uuid is named in another case ("ROUND", "Sender", "UUID") lacks that member and is refused with -32602.`,
			Level:       Must, Labels: []string{"objects", "errors"},
			Run: func(t *T) {
				s := t.ReadyKeygen(2, 1)
				a := s.Parties[0]
				for _, m := range []string{
					`{"ROUND":1,"sender":%[1]d,"uuid":%[2]q,"body":1}`,
					`{"round":1,"Sender":%[1]d,"uuid":%[2]q,"body":1}`,
					`{"round":1,"sender":%[1]d,"UUID":%[2]q,"body":1}`,
				} {
					msg := fmt.Sprintf(m, s.Number[a], s.ID)
					a.ExpectError(protocol.MethodSessionMessage, rawf(`[%q,%q,"keygen",%s]`, s.G.ID, s.ID, msg), protocol.CodeInvalidParams)
				}
			},
		},
		// §3.5: When the relay forwards a message, absent receiver is written as null (COMPAT).
		&Case{
			ID:          "3.5/absent-receiver-forwarded",
			Requirement: "A broadcast sent without receiver is forwarded with receiver null (COMPAT) or absent.",
			Level:       Info, Labels: []string{"objects", "routing"},
			Run: func(t *T) {
				s := t.ReadyKeygen(2, 1)
				a, b := s.Parties[0], s.Parties[1]
				raw := rawf(`[%q,%q,"keygen",{"round":1,"sender":%d,"uuid":%q,"body":"x"}]`, s.G.ID, s.ID, s.Number[a], s.ID)
				a.OK(protocol.MethodSessionMessage, raw, nil)
				ev := b.WaitEvent(protocol.EventSessionMessage, s.ID)
				var m map[string]json.RawMessage
				t.Expect(json.Unmarshal(ev.Payload, &m)).To(gomega.Succeed())
				if r, ok := m["receiver"]; ok {
					t.Info("receiver forwarded as %s", r)
				} else {
					t.Info("receiver left absent")
				}
			},
		},
	)
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// nullIfAbsent turns a member that was absent (nil) into JSON null: a relay may write a null value
// either way, and equalJSON then names the difference.
func nullIfAbsent(v json.RawMessage) json.RawMessage {
	if v == nil {
		return json.RawMessage("null")
	}
	return v
}
