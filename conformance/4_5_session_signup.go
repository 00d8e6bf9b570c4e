package conformance

import (
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"mpcrelay/relay/protocol"
)

func init() {
	register("4.5", "Session.signup",
		// §4.5: Issues the caller the next party number (1 for the first, then one more).
		&Case{
			ID:          "4.5/signup-numbers-from-one",
			Requirement: "Session.signup issues party numbers 1, 2, 3, ... in signup order.",
			Level:       Must, Labels: []string{"session", "signup"},
			Run: func(t *T) {
				g := t.NewGroup(3, 1, 3)
				s := g.NewSession(protocol.KindKeygen, nil)
				for i, c := range g.Members {
					if n := s.Signup(c); n != uint16(i+1) {
						t.Failf(fmt.Sprintf("party number %d for signup %d", i+1, i+1), "%d", n)
					}
				}
			},
		},
		// §4.5: the next number is one more than the last issued or loaded, as a u16 (§3.5):
		// nothing wraps at a byte, and past 65535 there is no next number to issue.
		&Case{
			ID:          "4.5/numbers-past-255-and-none-past-65535",
			Requirement: "After a load of 254, signups are issued 255, 256 and 257; in a session where 65535 is loaded, a signup is refused with -32603 (no number 0 or 1 issued again).",
			Level:       Must, Labels: []string{"session", "signup", "load"},
			Run: func(t *T) {
				g := t.NewGroup(300, 1, 1)
				a := g.Members[0]
				s := g.NewSession(protocol.KindKeygen, nil)
				a.Load(g.ID, s.ID, s.Kind, 254)
				for want := uint16(255); want <= 257; want++ {
					if n := a.Signup(g.ID, s.ID, s.Kind); n != want {
						t.Failf(fmt.Sprintf("party number %d after %d", want, want-1), "%d", n)
					}
				}
				top := t.NewGroup(65535, 1, 1)
				s2 := top.NewSession(protocol.KindKeygen, nil)
				top.Members[0].Load(top.ID, s2.ID, s2.Kind, 65535)
				top.Members[0].ExpectError(protocol.MethodSessionSignup, protocol.SessionParams{GroupID: top.ID, SessionID: s2.ID, Kind: s2.Kind}, protocol.CodeInternal)
			},
		},
		// §4.5: Issues the caller the next party number — also when several connections sign up
		// at the same moment (§1.3 orders the requests of one connection, not of several).
		&Case{
			ID:          "4.5/concurrent-signups-distinct-numbers",
			Requirement: fmt.Sprintf("Four connections signing up to a session at the same moment get the numbers 1 to 4, one each, and each receives sessionSignup once (%d sessions in turn).", concurrentRounds),
			Level:       Must, Labels: []string{"session", "signup", "events", "concurrency"},
			Run: func(t *T) {
				g := t.NewGroup(4, 1, 4)
				for range concurrentRounds {
					s := g.NewJoinedSession(protocol.KindKeygen, nil)
					var calls []Call
					for _, c := range g.Members {
						calls = append(calls, Call{c, protocol.MethodSessionSignup, protocol.SessionParams{GroupID: g.ID, SessionID: s.ID, Kind: s.Kind}})
					}
					holder := map[uint16]string{}
					for i, resp := range t.AtOnce(calls...) {
						c := g.Members[i]
						var n uint16
						if resp.Error != nil || json.Unmarshal(resp.Result, &n) != nil {
							t.Failf("a party number for "+c.Name, "%s", resp.Raw)
						}
						if n < 1 || n > 4 || holder[n] != "" {
							t.Failf("the numbers 1 to 4, one per connection, for four signups sent at once",
								"%d for %s (numbers issued before it: %v)", n, c.Name, holder)
						}
						holder[n] = c.Name
					}
					for _, c := range g.Members {
						c.WaitEvent(protocol.EventSessionSignup, s.ID)
					}
				}
				t.ExpectNoEvent(protocol.EventSessionSignup, uuid.Nil, g.Members...)
			},
		},
		// §4.5: When the number of parties becomes exactly `parties` (keygen), the relay sends
		// sessionSignup with the session uuid to every party, the caller included.
		&Case{
			ID:          "4.5/signup-event-exactly-at-threshold",
			Requirement: "For keygen, sessionSignup (payload: the session uuid) reaches every party when the parties-th party signs up, and not before.",
			Level:       Must, Labels: []string{"session", "signup", "events"},
			Run: func(t *T) {
				g := t.NewGroup(3, 1, 3)
				s := g.NewSession(protocol.KindKeygen, nil)
				s.Signup(g.Members[0])
				s.Signup(g.Members[1])
				t.ExpectNoEvent(protocol.EventSessionSignup, uuid.Nil, g.Members...)
				s.Signup(g.Members[2])
				for _, c := range g.Members {
					ev := c.WaitEvent(protocol.EventSessionSignup, uuid.Nil)
					if id, err := ev.AsUUID(); err != nil || id != s.ID {
						t.Failf("payload "+s.ID.String(), "%s", ev.Payload)
					}
				}
			},
		},
		// §4.5: ... (MUST, exactly once).
		&Case{
			ID:          "4.5/signup-event-exactly-once",
			Requirement: "Each party receives sessionSignup exactly once.",
			Level:       Must, Labels: []string{"session", "signup", "events"},
			Run: func(t *T) {
				g := t.NewGroup(2, 1, 2)
				s := g.NewSession(protocol.KindKeygen, nil)
				s.SignupAll(g.Members...)
				t.ExpectNoEvent(protocol.EventSessionSignup, uuid.Nil, g.Members...)
			},
		},
		// §4.5: ... after the caller's response; §1.3.
		&Case{
			ID:          "4.5/signup-event-after-caller-response",
			Requirement: "The caller whose signup completes the session receives its signup response before the sessionSignup event.",
			Level:       Must, Labels: []string{"session", "signup", "events", "ordering"},
			Run: func(t *T) {
				g := t.NewGroup(2, 1, 2)
				s := g.NewSession(protocol.KindKeygen, nil)
				s.Signup(g.Members[0])
				b := g.Members[1]
				b.JoinSession(g.ID, s.ID, s.Kind)
				resp := b.OK(protocol.MethodSessionSignup, protocol.SessionParams{GroupID: g.ID, SessionID: s.ID, Kind: s.Kind}, nil)
				b.WaitEvent(protocol.EventSessionSignup, s.ID)
				ri := b.ReceivedIndex(func(in protocol.Incoming) bool { return string(in.ID) == string(resp.ID) })
				ei := b.ReceivedIndex(func(in protocol.Incoming) bool {
					ev, err := in.Event()
					return in.IsEvent() && err == nil && ev.Name == protocol.EventSessionSignup
				})
				if ri < 0 || ei < 0 || ei < ri {
					t.Failf("the signup response (frame #"+fmt.Sprint(ri)+") before the sessionSignup event", "event at frame #%d", ei)
				}
			},
		},
		// §4.5: required count for sign is threshold+1; non-parties get nothing.
		&Case{
			ID:          "4.5/sign-event-at-threshold-plus-one",
			Requirement: "For sign, sessionSignup reaches the threshold+1 parties when the last of them signs up, and no member that is not a party.",
			Level:       Must, Labels: []string{"session", "signup", "events"},
			Run: func(t *T) {
				g := t.NewGroup(3, 1, 3)
				s := g.NewSession(protocol.KindSign, "msg")
				s.Signup(g.Members[0])
				t.ExpectNoEvent(protocol.EventSessionSignup, uuid.Nil, g.Members...)
				s.Signup(g.Members[1])
				g.Members[0].WaitEvent(protocol.EventSessionSignup, s.ID)
				g.Members[1].WaitEvent(protocol.EventSessionSignup, s.ID)
				t.ExpectNoEvent(protocol.EventSessionSignup, uuid.Nil, g.Members...)
			},
		},
		&Case{
			ID:          "4.5/signup-unknown-session",
			Requirement: "Session.signup for an unknown session is refused with error -32603.",
			Level:       Must, Labels: []string{"session", "signup", "errors"},
			Run: func(t *T) {
				a := t.Dial("A")
				g := a.CreateGroup(t.Label(), 2, 1)
				a.ExpectError(protocol.MethodSessionSignup, protocol.SessionParams{GroupID: g, SessionID: uuid.New(), Kind: protocol.KindKeygen}, protocol.CodeInternal)
			},
		},
		// §4.5: Signups beyond the required count: COMPAT the original issues a number and sends
		// no event; a relay SHOULD refuse them with -32603.
		&Case{
			ID:          "4.5/signup-beyond-required-sends-no-event",
			Requirement: "A signup beyond the required count triggers no further sessionSignup.",
			Level:       Must, Labels: []string{"session", "signup", "events"},
			Run: func(t *T) {
				g := t.NewGroup(3, 1, 3)
				s := g.NewSession(protocol.KindSign, nil)
				s.SignupAll(g.Members[0], g.Members[1])
				c := g.Members[2]
				c.JoinSession(g.ID, s.ID, s.Kind)
				c.Raw(protocol.MethodSessionSignup, protocol.SessionParams{GroupID: g.ID, SessionID: s.ID, Kind: s.Kind})
				t.ExpectNoEvent(protocol.EventSessionSignup, uuid.Nil, g.Members...)
			},
		},
		&Case{
			ID:          "4.5/signup-beyond-required-refused",
			Requirement: "A signup beyond the required count is refused with error -32603.",
			Level:       Should, Labels: []string{"session", "signup"},
			Run: func(t *T) {
				g := t.NewGroup(3, 1, 3)
				s := g.NewSession(protocol.KindSign, nil)
				s.SignupAll(g.Members[0], g.Members[1])
				c := g.Members[2]
				c.JoinSession(g.ID, s.ID, s.Kind)
				resp := c.Raw(protocol.MethodSessionSignup, protocol.SessionParams{GroupID: g.ID, SessionID: s.ID, Kind: s.Kind})
				switch {
				case resp.Error == nil:
					t.NonStrict("COMPAT: extra signup issued number %s", resp.Result)
				case resp.Error.Code != protocol.CodeInternal:
					t.Failf("error -32603", "error %d", resp.Error.Code)
				}
			},
		},
		// §4.5: The required count is decided by the kind of the session (COMPAT: the original
		// uses the kind in the params).
		&Case{
			ID:          "4.5/required-count-from-session-kind",
			Requirement: "The signup threshold follows the session's kind even when the params name the other kind (COMPAT: the params' kind).",
			Level:       Compat, Labels: []string{"session", "signup"},
			Run: func(t *T) {
				g := t.NewGroup(3, 1, 3)
				s := g.NewSession(protocol.KindSign, nil)
				for _, c := range g.Members[:2] {
					c.JoinSession(g.ID, s.ID, protocol.KindSign)
					c.OK(protocol.MethodSessionSignup, protocol.SessionParams{GroupID: g.ID, SessionID: s.ID, Kind: protocol.KindKeygen}, nil)
				}
				t.Quiet()
				if len(g.Members[0].Pending(protocol.EventSessionSignup, s.ID)) > 0 {
					return // threshold+1 of the sign session: the strict reading
				}
				c := g.Members[2]
				c.JoinSession(g.ID, s.ID, protocol.KindSign)
				c.OK(protocol.MethodSessionSignup, protocol.SessionParams{GroupID: g.ID, SessionID: s.ID, Kind: protocol.KindKeygen}, nil)
				g.Members[0].WaitEvent(protocol.EventSessionSignup, s.ID)
				t.NonStrict("COMPAT: sessionSignup came at `parties` signups, from the params' kind keygen")
			},
		},
	)
}
