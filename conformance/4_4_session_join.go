package conformance

import (
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/onsi/gomega"

	"mpcrelay/relay/protocol"
)

func init() {
	register("4.4", "Session.join",
		// §4.4: Unknown session → -32603.
		&Case{
			ID:          "4.4/join-unknown-session",
			Requirement: "Session.join of an unknown session is refused with error -32603.",
			Level:       Must, Labels: []string{"session", "errors"},
			Run: func(t *T) {
				g := t.NewGroup(2, 1, 2)
				g.Members[1].ExpectError(protocol.MethodSessionJoin, protocol.SessionParams{GroupID: g.ID, SessionID: uuid.New(), Kind: protocol.KindKeygen}, protocol.CodeInternal)
			},
		},
		// §4.4: Result: the session object (so joiners can read value).
		&Case{
			ID:          "4.4/join-returns-session",
			Requirement: "Session.join returns the session object, value included.",
			Level:       Must, Labels: []string{"session", "objects"},
			Run: func(t *T) {
				g := t.NewGroup(3, 1, 2)
				s := g.Members[0].CreateSession(g.ID, protocol.KindSign, map[string]any{"tx": "0x01"})
				got := g.Members[1].JoinSession(g.ID, s.UUID, protocol.KindSign)
				t.Expect(got.UUID).To(gomega.Equal(s.UUID))
				t.Expect(got.Kind).To(gomega.Equal(protocol.KindSign))
				t.Expect(string(got.Value)).To(gomega.MatchJSON(`{"tx":"0x01"}`))
			},
		},
		// §4.4: the result is the session object — the session's own kind, whatever kind the
		// params name (COMPAT: the original counts by the params' kind, §4.5; a fork that builds
		// the answer from the params too answers the wrong kind).
		&Case{
			ID:          "4.4/join-with-other-kind-returns-own-kind",
			Requirement: `Session.join of a keygen session with kind "sign" in its params is refused, or answered with the session object of kind keygen.`,
			Level:       Must, Labels: []string{"session", "objects"},
			Run: func(t *T) {
				g := t.NewGroup(3, 1, 2)
				s := g.Members[0].CreateSession(g.ID, protocol.KindKeygen, "keygen value")
				resp := g.Members[1].Raw(protocol.MethodSessionJoin, protocol.SessionParams{GroupID: g.ID, SessionID: s.UUID, Kind: protocol.KindSign})
				if resp.Error != nil {
					t.Logf("refused: %s", resp.Raw)
					return
				}
				var got protocol.Session
				if err := json.Unmarshal(resp.Result, &got); err != nil || got.UUID != s.UUID || got.Kind != protocol.KindKeygen {
					t.Failf(fmt.Sprintf("the session object of %s, kind keygen", s.UUID), "%s", resp.Raw)
				}
			},
		},
		// §4.4: Joining does not make the caller a party.
		&Case{
			ID:          "4.4/join-does-not-make-a-party",
			Requirement: "A connection that only joined a session is not counted as a party: sessionSignup waits for a real signup.",
			Level:       Must, Labels: []string{"session", "signup"},
			Run: func(t *T) {
				g := t.NewGroup(2, 1, 2)
				a, b := g.Members[0], g.Members[1]
				s := g.NewSession(protocol.KindKeygen, nil)
				s.Signup(a)
				b.JoinSession(g.ID, s.ID, s.Kind)
				t.ExpectNoEvent(protocol.EventSessionSignup, s.ID, a, b)
				if n := b.Signup(g.ID, s.ID, s.Kind); n != 2 {
					t.Failf("party number 2 for the second signup", "%d", n)
				}
				a.WaitEvent(protocol.EventSessionSignup, s.ID)
				b.WaitEvent(protocol.EventSessionSignup, s.ID)
			},
		},
	)
}
