package conformance

import (
	"fmt"

	"github.com/google/uuid"

	"mpcrelay/relay/protocol"
)

func init() {
	register("4.8", "Session.finish",
		// §4.8: sessionClosed when every party of the session has finished. A relay that frees
		// a departed party's number (§6.1 allows it; a message to that number is then refused,
		// §4.7) has one party fewer to wait for.
		&Case{
			ID:          "4.8/closes-without-a-departed-party",
			Requirement: "When party 3 of a session leaves and the relay frees its number (a message to 3 is refused), the session closes when parties 1 and 2 finish: each receives sessionClosed [1,2] (a relay that keeps the departed number has nothing to check).",
			Level:       Must, Labels: []string{"finish", "events", "lifecycle"},
			Run: func(t *T) {
				s := t.ReadyKeygen(3, 1)
				a, b, c := s.Parties[0], s.Parties[1], s.Parties[2]
				_ = c.Close()
				<-c.Done()
				m := s.msg(s.Number[a], s.Number[c], "to C, who left")
				freed := afterDeparture(t, func() bool {
					return a.Raw(protocol.MethodSessionMessage, protocol.SessionMessageParams{GroupID: s.G.ID, SessionID: s.ID, Kind: s.Kind, Message: m}).Error != nil
				})
				if !freed {
					t.Info("number %d kept after its party left (COMPAT, §6.1): messages to it accepted", s.Number[c])
					return
				}
				a.Finish(s.G.ID, s.ID, s.Number[a])
				b.Finish(s.G.ID, s.ID, s.Number[b])
				for _, p := range []*Conn{a, b} {
					ev := p.WaitEvent(protocol.EventSessionClosed, uuid.Nil)
					expectJSON(t, "sessionClosed on "+p.Name, ev.Payload, mustJSON([]uint16{s.Number[a], s.Number[b]}))
				}
			},
		},
		// §4.8: When every party has finished, sessionClosed with the ascending array of party
		// numbers goes to every party of the session (MUST, once per session).
		&Case{
			ID:          "4.8/closed-after-every-party-finished",
			Requirement: "sessionClosed comes only when every party has finished, and then reaches every party (and no non-party) with the ascending party numbers.",
			Level:       Must, Labels: []string{"finish", "events"},
			Run: func(t *T) {
				s := t.Ready(protocol.KindSign, 4, 2, 4)
				d := s.G.Members[3]
				// finish out of order, so that "ascending" is the relay's doing
				for _, c := range []*Conn{s.Parties[2], s.Parties[0]} {
					c.Finish(s.G.ID, s.ID, s.Number[c])
				}
				t.ExpectNoEvent(protocol.EventSessionClosed, uuid.Nil, s.G.Members...)
				last := s.Parties[1]
				last.Finish(s.G.ID, s.ID, s.Number[last])
				for _, c := range s.Parties {
					ev := c.WaitEvent(protocol.EventSessionClosed, uuid.Nil)
					got, err := ev.AsParties()
					if err != nil || fmt.Sprint(got) != "[1 2 3]" {
						t.Failf("payload [1,2,3] on "+c.Name, "%s", ev.Payload)
					}
				}
				t.CheckNoEvent(protocol.EventSessionClosed, uuid.Nil, d)
			},
		},
		// §4.8: ... the ascending array of party numbers: numbers compared as numbers, and as many
		// as a u16 holds (a session can hold any numbers up to parties, §4.6).
		&Case{
			ID:          "4.8/closed-numbers-ascending-as-numbers",
			Requirement: "Parties holding numbers 300, 64, 10, 9 and 2 (loaded in a group of 300) finish, and each receives sessionClosed [2,9,10,64,300]: ascending as numbers, not as text, none lost.",
			Level:       Must, Labels: []string{"finish", "events", "load"},
			Run: func(t *T) {
				numbers := []uint16{300, 64, 10, 9, 2}
				g := t.NewGroup(300, 1, len(numbers))
				s := g.NewJoinedSession(protocol.KindKeygen, nil)
				for i, c := range g.Members {
					if n := c.Load(g.ID, s.ID, s.Kind, numbers[i]); n != numbers[i] {
						t.Failf(fmt.Sprintf("number %d loaded by %s", numbers[i], c.Name), "%d", n)
					}
				}
				for _, i := range []int{4, 0, 3, 1, 2} { // finish in neither order
					g.Members[i].Finish(g.ID, s.ID, numbers[i])
				}
				for _, c := range g.Members {
					ev := c.WaitEvent(protocol.EventSessionClosed, uuid.Nil)
					if got, err := ev.AsParties(); err != nil || fmt.Sprint(got) != "[2 9 10 64 300]" {
						t.Failf("payload [2,9,10,64,300] on "+c.Name, "%s", ev.Payload)
					}
				}
			},
		},
		// §4.8: sessionClosed once per session — also when the last parties finish at the same
		// moment from different connections.
		&Case{
			ID:          "4.8/concurrent-finishes-close-once",
			Requirement: fmt.Sprintf("When the three parties of a session finish at the same moment, each receives sessionClosed once (%d sessions in turn).", concurrentRounds),
			Level:       Must, Labels: []string{"finish", "events", "concurrency"},
			Run: func(t *T) {
				g := t.NewGroup(3, 1, 3)
				for range concurrentRounds {
					s := g.NewSession(protocol.KindKeygen, nil)
					for _, c := range g.Members[1:] {
						c.WaitEvent(protocol.EventSessionCreate, s.ID)
					}
					s.SignupAll(g.Members...)
					var calls []Call
					for _, c := range s.Parties {
						calls = append(calls, Call{c, protocol.MethodSessionFinish, protocol.SessionFinishParams{GroupID: g.ID, SessionID: s.ID, Number: s.Number[c]}})
					}
					for i, resp := range t.AtOnce(calls...) {
						if resp.Error != nil {
							t.Failf("success response to Session.finish on "+s.Parties[i].Name, "%s", resp.Raw)
						}
					}
					for _, c := range s.Parties {
						c.WaitEvent(protocol.EventSessionClosed, uuid.Nil)
					}
				}
				t.ExpectNoEvent(protocol.EventSessionClosed, uuid.Nil, g.Members...)
			},
		},
		&Case{
			ID:          "4.8/closed-sent-once",
			Requirement: "Each party receives sessionClosed once when every party finished once.",
			Level:       Must, Labels: []string{"finish", "events"},
			Run: func(t *T) {
				s := t.ReadyKeygen(2, 1)
				s.FinishAll()
				t.ExpectNoEvent(protocol.EventSessionClosed, uuid.Nil, s.Parties...)
			},
		},
		// §4.8: number must be a party of the session (-32603 "does not exist").
		&Case{
			ID:          "4.8/finish-unknown-party",
			Requirement: "Session.finish with a number that is no party of the session is refused with error -32603.",
			Level:       Must, Labels: []string{"finish", "errors"},
			Run: func(t *T) {
				s := t.ReadyKeygen(2, 1)
				s.Parties[0].ExpectError(protocol.MethodSessionFinish, protocol.SessionFinishParams{GroupID: s.G.ID, SessionID: s.ID, Number: 9}, protocol.CodeInternal)
			},
		},
		// §4.8: ... held by the caller's connection (-32603 — a party cannot finish for another).
		&Case{
			ID:          "4.8/finish-for-another-party-refused",
			Requirement: "Session.finish with another connection's party number is refused with error -32603 and does not count.",
			Level:       Must, Labels: []string{"finish", "errors", "security"},
			Run: func(t *T) {
				s := t.ReadyKeygen(2, 1)
				a, b := s.Parties[0], s.Parties[1]
				a.Finish(s.G.ID, s.ID, s.Number[a])
				a.ExpectError(protocol.MethodSessionFinish, protocol.SessionFinishParams{GroupID: s.G.ID, SessionID: s.ID, Number: s.Number[b]}, protocol.CodeInternal)
				t.ExpectNoEvent(protocol.EventSessionClosed, uuid.Nil, a, b)
			},
		},
		// §4.8: COMPAT: the original sends sessionClosed again if a party repeats its finish.
		&Case{
			ID:          "4.8/repeated-finish",
			Requirement: "A repeated finish after the session closed sends no second sessionClosed (COMPAT: sent again).",
			Level:       Compat, Labels: []string{"finish", "events"},
			Run: func(t *T) {
				s := t.ReadyKeygen(2, 1)
				s.FinishAll()
				a := s.Parties[0]
				resp := a.Raw(protocol.MethodSessionFinish, protocol.SessionFinishParams{GroupID: s.G.ID, SessionID: s.ID, Number: s.Number[a]})
				t.Quiet()
				if n := len(a.Pending(protocol.EventSessionClosed, uuid.Nil)); n > 0 {
					t.NonStrict("COMPAT: sessionClosed sent again after a repeated finish (response %s)", resp.Raw)
				}
			},
		},
	)
}
