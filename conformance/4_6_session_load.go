package conformance

import (
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"mpcrelay/relay/protocol"
)

func init() {
	register("4.6", "Session.load",
		// §4.6: sessionLoad when the parties reach the required count. A relay that frees a
		// departed party's number (§6.1 allows it) counts the parties it has now, not the numbers
		// it ever issued.
		&Case{
			ID:          "4.6/departed-party-not-counted",
			Requirement: "When party 2 of a 3-party session leaves and another connection loads number 2 again, no sessionLoad comes yet; the load of number 3 by a fourth connection completes the session, and the three live parties each receive sessionLoad once (a relay that keeps the departed number refuses the reload: nothing to check).",
			Level:       Must, Labels: []string{"session", "load", "events", "lifecycle"},
			Run: func(t *T) {
				g := t.NewGroup(3, 1, 3)
				a, b, c := g.Members[0], g.Members[1], g.Members[2]
				s := g.NewJoinedSession(protocol.KindKeygen, nil)
				a.Load(g.ID, s.ID, s.Kind, 1)
				b.Load(g.ID, s.ID, s.Kind, 2)
				_ = b.Close()
				<-b.Done()
				if !s.Reload(t, c, 2) {
					return
				}
				t.ExpectNoEvent(protocol.EventSessionLoad, uuid.Nil, a, c)
				d := t.Dial("D")
				d.JoinGroup(g.ID) // B's place, freed with its numbers
				d.JoinSession(g.ID, s.ID, s.Kind)
				d.Load(g.ID, s.ID, s.Kind, 3)
				for _, p := range []*Conn{a, c, d} {
					p.WaitEvent(protocol.EventSessionLoad, s.ID)
				}
				t.ExpectNoEvent(protocol.EventSessionLoad, uuid.Nil, a, c, d)
			},
		},
		loadRuleCase("4.6/load-zero-refused", "Session.load of party number 0 is refused with error -32603.", func(*Session) uint16 { return 0 }, false),
		loadRuleCase("4.6/load-out-of-range-refused", "Session.load of a party number above parties is refused with error -32603.", func(s *Session) uint16 { return s.G.Params.Parties + 1 }, false),
		loadRuleCase("4.6/load-taken-refused", "Session.load of a number already held in the session is refused with error -32603.", func(*Session) uint16 { return 1 }, true),
		// §4.6: Result: the number.
		&Case{
			ID:          "4.6/load-returns-number",
			Requirement: "Session.load of a free number in range returns that number.",
			Level:       Must, Labels: []string{"session", "load"},
			Run: func(t *T) {
				g := t.NewGroup(3, 1, 1)
				s := g.NewSession(protocol.KindKeygen, nil)
				if n := g.Members[0].Load(g.ID, s.ID, s.Kind, 3); n != 3 {
					t.Failf("result 3", "%d", n)
				}
			},
		},
		// §4.6: When the count reaches the required count, sessionLoad with the session uuid
		// goes to every party of the session (MUST, exactly once).
		&Case{
			ID:          "4.6/load-event-at-threshold",
			Requirement: "sessionLoad reaches every loading party exactly once when the required count is reached, and not before.",
			Level:       Must, Labels: []string{"session", "load", "events"},
			Run: func(t *T) {
				g := t.NewGroup(3, 1, 3)
				s := g.NewSession(protocol.KindKeygen, nil)
				a, b, c := g.Members[0], g.Members[1], g.Members[2]
				a.Load(g.ID, s.ID, s.Kind, 3)
				for _, m := range []*Conn{b, c} {
					m.JoinSession(g.ID, s.ID, s.Kind)
				}
				b.Load(g.ID, s.ID, s.Kind, 1)
				t.ExpectNoEvent(protocol.EventSessionLoad, uuid.Nil, g.Members...)
				c.Load(g.ID, s.ID, s.Kind, 2)
				for _, m := range g.Members {
					ev := m.WaitEvent(protocol.EventSessionLoad, uuid.Nil)
					if id, err := ev.AsUUID(); err != nil || id != s.ID {
						t.Failf("payload "+s.ID.String(), "%s", ev.Payload)
					}
				}
				t.ExpectNoEvent(protocol.EventSessionLoad, uuid.Nil, g.Members...)
			},
		},
		// §4.6: the number is not already held in this session (-32603), whoever else claims
		// it at the same moment: a relay that checks, awaits, then stores gives it twice.
		&Case{
			ID:          "4.6/concurrent-loads-of-one-number",
			Requirement: fmt.Sprintf("When two connections load party number 2 of a session at the same moment, one gets 2 and the other is refused with -32603 (%d sessions in turn).", concurrentRounds),
			Level:       Must, Labels: []string{"session", "load", "errors", "concurrency"},
			Run: func(t *T) {
				g := t.NewGroup(3, 1, 3)
				b, c := g.Members[1], g.Members[2]
				for range concurrentRounds {
					s := g.NewJoinedSession(protocol.KindKeygen, nil)
					p := protocol.SessionLoadParams{GroupID: g.ID, SessionID: s.ID, Kind: s.Kind, Number: 2}
					resps := t.AtOnce(Call{b, protocol.MethodSessionLoad, p}, Call{c, protocol.MethodSessionLoad, p})
					won := 0
					for i, resp := range resps {
						var n uint16
						switch {
						case resp.Error == nil && json.Unmarshal(resp.Result, &n) == nil && n == 2:
							won++
						case resp.Error != nil && resp.Error.Code == protocol.CodeInternal:
						default:
							t.Failf("result 2 or error -32603 on "+[]string{b.Name, c.Name}[i], "%s", resp.Raw)
						}
					}
					if won != 1 {
						t.Failf("number 2 issued to exactly one of two loads sent at once", "issued %d times: %s, %s", won, resps[0].Raw, resps[1].Raw)
					}
				}
			},
		},
		// §4.6: sessionLoad goes to every party exactly once, also when the loads that complete
		// the session arrive at the same moment.
		&Case{
			ID:          "4.6/concurrent-loads-complete-once",
			Requirement: fmt.Sprintf("When the last two loads of a session arrive at the same moment, every party receives sessionLoad once (%d sessions in turn).", concurrentRounds),
			Level:       Must, Labels: []string{"session", "load", "events", "concurrency"},
			Run: func(t *T) {
				g := t.NewGroup(3, 1, 3)
				a, b, c := g.Members[0], g.Members[1], g.Members[2]
				for range concurrentRounds {
					s := g.NewJoinedSession(protocol.KindKeygen, nil)
					a.Load(g.ID, s.ID, s.Kind, 1)
					resps := t.AtOnce(
						Call{b, protocol.MethodSessionLoad, protocol.SessionLoadParams{GroupID: g.ID, SessionID: s.ID, Kind: s.Kind, Number: 2}},
						Call{c, protocol.MethodSessionLoad, protocol.SessionLoadParams{GroupID: g.ID, SessionID: s.ID, Kind: s.Kind, Number: 3}})
					for i, resp := range resps {
						var n uint16
						if resp.Error != nil || json.Unmarshal(resp.Result, &n) != nil || n != uint16(i+2) {
							t.Failf(fmt.Sprintf("result %d on %s", i+2, []string{b.Name, c.Name}[i]), "%s", resp.Raw)
						}
					}
					for _, m := range g.Members {
						m.WaitEvent(protocol.EventSessionLoad, s.ID)
					}
				}
				t.ExpectNoEvent(protocol.EventSessionLoad, uuid.Nil, g.Members...)
			},
		},
		// §4.5: the next signup number is one more than the last number issued or loaded.
		&Case{
			ID:          "4.6/signup-after-load-continues-numbering",
			Requirement: "After a load of number k, the next signup is issued k+1.",
			Level:       Must, Labels: []string{"session", "load", "signup"},
			Run: func(t *T) {
				g := t.NewGroup(3, 1, 2)
				s := g.NewSession(protocol.KindKeygen, nil)
				g.Members[0].Load(g.ID, s.ID, s.Kind, 2)
				if n := s.Signup(g.Members[1]); n != 3 {
					t.Failf("party number 3", "%d", n)
				}
			},
		},
		// §4.6: The seed documents kind as keygen only; the original accepts sign too (INFO).
		&Case{
			ID:          "4.6/load-with-sign-kind",
			Requirement: "Session.load with kind sign is accepted or refused (INFO).",
			Level:       Info, Labels: []string{"session", "load"},
			Run: func(t *T) {
				g := t.NewGroup(3, 1, 1)
				s := g.NewSession(protocol.KindSign, nil)
				resp := g.Members[0].Raw(protocol.MethodSessionLoad, protocol.SessionLoadParams{GroupID: g.ID, SessionID: s.ID, Kind: protocol.KindSign, Number: 2})
				if resp.Error != nil {
					t.Info("load with kind sign refused: %s", resp.Error)
				} else {
					t.Info("load with kind sign accepted: %s", resp.Result)
				}
			},
		},
	)
}

// §4.6: Rules, each -32603: number != 0; number <= parties; not already held in this session.
func loadRuleCase(id, req string, number func(*Session) uint16, taken bool) *Case {
	return &Case{
		ID: id, Requirement: req, Level: Must, Labels: []string{"session", "load", "errors"},
		Run: func(t *T) {
			g := t.NewGroup(3, 1, 2)
			s := g.NewSession(protocol.KindKeygen, nil)
			if taken {
				g.Members[0].Load(g.ID, s.ID, s.Kind, 1)
			}
			b := g.Members[1]
			b.JoinSession(g.ID, s.ID, s.Kind)
			n := number(s)
			b.ExpectError(protocol.MethodSessionLoad, protocol.SessionLoadParams{GroupID: g.ID, SessionID: s.ID, Kind: s.Kind, Number: n},
				protocol.CodeInternal)
		},
	}
}
