package conformance

import (
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/onsi/gomega"

	"mpcrelay/relay/protocol"
)

func init() {
	register("4.3", "Session.create",
		// §4.3: For kind == "keygen" the relay sends event sessionCreate with the session object
		// to every other member of the group (not to the caller).
		&Case{
			ID:          "4.3/keygen-create-event-to-other-members",
			Requirement: "Creating a keygen session sends sessionCreate with the session object to every other member, not to the caller or to non-members.",
			Level:       Must, Labels: []string{"session", "events"},
			Run: func(t *T) {
				g := t.NewGroup(3, 1, 3)
				out := t.Dial("X") // member of another group
				out.CreateGroup(t.Label(), 2, 1)
				s := g.Members[0].CreateSession(g.ID, protocol.KindKeygen, map[string]string{"k": "v"})
				for _, m := range g.Members[1:] {
					ev := m.WaitEvent(protocol.EventSessionCreate, uuid.Nil)
					got, err := ev.AsSession()
					if err != nil {
						t.Failf("a session object as sessionCreate payload", "%s", ev.Payload)
					}
					t.Expect(got.UUID).To(gomega.Equal(s.UUID))
					t.Expect(got.Kind).To(gomega.Equal(protocol.KindKeygen))
					t.Expect(string(got.Value)).To(gomega.MatchJSON(`{"k":"v"}`))
				}
				t.ExpectNoEvent(protocol.EventSessionCreate, uuid.Nil, g.Members[0], out)
			},
		},
		// §4.3: a sign session sends no event.
		&Case{
			ID:          "4.3/sign-create-sends-no-event",
			Requirement: "Creating a sign session sends no event to anyone.",
			Level:       Must, Labels: []string{"session", "events"},
			Run: func(t *T) {
				g := t.NewGroup(3, 1, 3)
				g.NewSession(protocol.KindSign, "msg")
				t.ExpectNoEvent("", uuid.Nil, g.Members...)
			},
		},
		&Case{
			ID:          "4.3/create-in-unknown-group",
			Requirement: "Session.create in an unknown group is refused with error -32603.",
			Level:       Must, Labels: []string{"session", "errors"},
			Run: func(t *T) {
				a := t.Dial("A")
				a.ExpectError(protocol.MethodSessionCreate, protocol.SessionCreateParams{GroupID: uuid.New(), Kind: protocol.KindKeygen}, protocol.CodeInternal)
			},
		},
		// §4.3: The original requires all three elements; accepting [group_id, kind] too is INFO.
		&Case{
			ID:          "4.3/create-without-value",
			Requirement: "Session.create with [group_id, kind] (no value) is accepted or refused with -32602.",
			Level:       Info, Labels: []string{"session"},
			Run: func(t *T) {
				a := t.Dial("A")
				g := a.CreateGroup(t.Label(), 2, 1)
				resp := a.Raw(protocol.MethodSessionCreate, rawf(`[%q,"sign"]`, g))
				switch {
				case resp.Error == nil:
					t.Info("two-element params accepted: %s", resp.Result)
				case resp.Error.Code == protocol.CodeInvalidParams:
					t.Info("two-element params refused with -32602")
				default:
					t.Failf("success or error -32602", "error %d", resp.Error.Code)
				}
			},
		},
	)

	// §4.3: Caller must be a member (-32603 otherwise; applies to every method that names a
	// group, except Notify.proposal, §4.9).
	var member []*Case
	for _, m := range membershipMethods {
		member = append(member, &Case{
			ID:          "4.3/membership-required-" + m.slug,
			Requirement: fmt.Sprintf("%s from a connection that is not a member of the group is refused with error -32603.", m.method),
			Level:       Must, Labels: []string{"membership", "errors", "security"},
			Run: func(t *T) {
				s := t.ReadyKeygen(2, 1)
				g := s.G
				x := t.Dial("X")
				x.ExpectError(m.method, m.params(g.ID, s.ID), protocol.CodeInternal)
				t.ExpectNoEvent("", uuid.Nil, g.Members...) // nothing leaks to the members either
			},
		})
	}
	register("4.3", "Session.create", member...)
}

var membershipMethods = []struct {
	slug, method string
	params       func(g, s uuid.UUID) json.RawMessage
}{
	{"session-create", protocol.MethodSessionCreate, func(g, s uuid.UUID) json.RawMessage { return rawf(`[%q,"keygen",null]`, g) }},
	{"session-join", protocol.MethodSessionJoin, func(g, s uuid.UUID) json.RawMessage { return rawf(`[%q,%q,"keygen"]`, g, s) }},
	{"session-signup", protocol.MethodSessionSignup, func(g, s uuid.UUID) json.RawMessage { return rawf(`[%q,%q,"keygen"]`, g, s) }},
	{"session-load", protocol.MethodSessionLoad, func(g, s uuid.UUID) json.RawMessage { return rawf(`[%q,%q,"keygen",1]`, g, s) }},
	{"session-message", protocol.MethodSessionMessage, func(g, s uuid.UUID) json.RawMessage {
		return rawf(`[%q,%q,"keygen",{"round":1,"sender":1,"receiver":null,"uuid":%q,"body":"x"}]`, g, s, s)
	}},
	{"session-finish", protocol.MethodSessionFinish, func(g, s uuid.UUID) json.RawMessage { return rawf(`[%q,%q,1]`, g, s) }},
	{"notify-signed", protocol.MethodNotifySigned, func(g, s uuid.UUID) json.RawMessage { return rawf(`[%q,%q,"sig"]`, g, s) }},
}
