package conformance

import (
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"mpcrelay/relay/protocol"
)

// Sizes of the cache cases: well past the caches a relay author reaches for (64, 128, 256
// entries), within the reference relay's limits (64 groups per connection).
const (
	manyGroups     = 300
	manyGroupConns = 6
	manySessions   = 300
)

func init() {
	register("3.6", "Independence",
		// §3.6: creating groups never changes another group — also past the size of a cache: a
		// relay whose group table is an LRU cache evicts live groups. A relay may refuse groups
		// past a limit of its own (-32603); a group it created stays until its members leave.
		&Case{
			ID:          "3.6/many-groups-none-evicted",
			Requirement: fmt.Sprintf("%d groups created over %d connections (creations refused for a limit allowed) all still exist: a sign session is created in each, in creation order.", manyGroups, manyGroupConns),
			Level:       Must, Labels: []string{"group", "slow"},
			Run: func(t *T) {
				type created struct {
					by *Conn
					id uuid.UUID
				}
				var groups []created
				conns := t.DialN(manyGroupConns)
				for i := range manyGroups {
					c := conns[i%len(conns)]
					resp := c.Raw(protocol.MethodGroupCreate, protocol.GroupCreateParams{Label: t.Label(), Params: protocol.Parameters{Parties: 2, Threshold: 1}})
					var id uuid.UUID
					if resp.Error != nil || json.Unmarshal(resp.Result, &id) != nil {
						continue // the relay's limit
					}
					groups = append(groups, created{c, id})
				}
				t.Logf("%d of %d groups created", len(groups), manyGroups)
				for i, g := range groups {
					if resp := g.by.Raw(protocol.MethodSessionCreate, protocol.SessionCreateParams{GroupID: g.id, Kind: protocol.KindSign, Value: mustJSON(i)}); resp.Error != nil {
						t.Failf(fmt.Sprintf("group #%d of %d (%s) still exists", i+1, len(groups), g.id), "%s", resp.Raw)
					}
				}
			},
		},
		// §3.6: the sessions of one group are independent — creating more never ends one (a
		// group's sessions kept in an LRU cache lose the oldest).
		&Case{
			ID:          "3.6/many-sessions-none-evicted",
			Requirement: fmt.Sprintf("%d sessions created in one group all still exist: each is joined, in creation order, and returns its value.", manySessions),
			Level:       Must, Labels: []string{"session", "slow"},
			Run: func(t *T) {
				a := t.Dial("A")
				g := a.CreateGroup(t.Label(), 2, 1)
				var ids []uuid.UUID
				for i := range manySessions {
					ids = append(ids, a.CreateSession(g, protocol.KindSign, i).UUID)
				}
				for i, id := range ids {
					s := a.JoinSession(g, id, protocol.KindSign)
					expectJSON(t, fmt.Sprintf("session #%d's value", i+1), s.Value, mustJSON(i))
				}
			},
		},
		// §3.6: Groups are independent of one another: ... never change or reach another. With
		// §4.4: unknown session → -32603 — a session is known only in its own group.
		&Case{
			ID:          "3.6/session-of-another-group-does-not-exist",
			Requirement: "A session id used through another group the caller belongs to is refused with -32603 by Session.join, signup, load, message and finish, and changes nothing.",
			Level:       Must, Labels: []string{"session", "membership", "errors", "security"},
			Run: func(t *T) {
				a, b := t.Dial("A"), t.Dial("B")
				g1 := a.CreateGroup(t.Label(), 2, 1)
				g2 := a.CreateGroup(t.Label(), 2, 1)
				b.JoinGroup(g1)
				b.JoinGroup(g2)
				s := a.CreateSession(g1, protocol.KindKeygen, nil)
				b.WaitEvent(protocol.EventSessionCreate, s.UUID)
				k := protocol.KindKeygen
				for _, call := range []struct {
					method string
					params any
				}{
					{protocol.MethodSessionJoin, protocol.SessionParams{GroupID: g2, SessionID: s.UUID, Kind: k}},
					{protocol.MethodSessionSignup, protocol.SessionParams{GroupID: g2, SessionID: s.UUID, Kind: k}},
					{protocol.MethodSessionLoad, protocol.SessionLoadParams{GroupID: g2, SessionID: s.UUID, Kind: k, Number: 2}},
					{protocol.MethodSessionMessage, protocol.SessionMessageParams{GroupID: g2, SessionID: s.UUID, Kind: k,
						Message: protocol.Message{Round: 1, Sender: 1, UUID: s.UUID, Body: mustJSON("through the wrong group")}}},
					{protocol.MethodSessionFinish, protocol.SessionFinishParams{GroupID: g2, SessionID: s.UUID, Number: 1}},
				} {
					b.ExpectError(call.method, call.params, protocol.CodeInternal)
				}
				t.ExpectNoEvent("", uuid.Nil, a, b)
				// nothing counted: the session still needs both parties, through its own group
				if n := a.Signup(g1, s.UUID, k); n != 1 {
					t.Failf("party number 1 for the first signup through the session's own group", "%d", n)
				}
				b.JoinSession(g1, s.UUID, k)
				if n := b.Signup(g1, s.UUID, k); n != 2 {
					t.Failf("party number 2 for the second signup", "%d", n)
				}
				a.WaitEvent(protocol.EventSessionSignup, s.UUID)
				b.WaitEvent(protocol.EventSessionSignup, s.UUID)
			},
		},
		// §3.6: a group may hold several sessions at once, of either kind; party numbers,
		// signups, loads, finishes, messages and events of one never change or reach another.
		&Case{
			ID:          "3.6/sessions-in-one-group-independent",
			Requirement: "Two sessions running at once in one group number their parties, route their messages and close independently.",
			Level:       Must, Labels: []string{"session", "routing", "events", "security"},
			Run: func(t *T) {
				g := t.NewGroup(3, 1, 3)
				a, b, c := g.Members[0], g.Members[1], g.Members[2]
				// S1 by signup: A=1, B=2, C=3
				s1 := g.NewSession(protocol.KindKeygen, nil)
				for _, m := range []*Conn{b, c} {
					m.WaitEvent(protocol.EventSessionCreate, s1.ID)
				}
				s1.SignupAll(a, b, c)
				// S2, at the same time, by load in the other order: C=1, B=2, A=3
				s2 := g.NewSession(protocol.KindKeygen, nil)
				for _, m := range []*Conn{b, c} {
					m.WaitEvent(protocol.EventSessionCreate, s2.ID)
				}
				for i, m := range []*Conn{c, b, a} {
					if m != a {
						m.JoinSession(g.ID, s2.ID, s2.Kind)
					}
					n := uint16(i + 1)
					if got := m.Load(g.ID, s2.ID, s2.Kind, n); got != n {
						t.Failf(fmt.Sprintf("Session.load of %d in the second session returns %d", n, n), "%d", got)
					}
					s2.Number[m], s2.Parties = n, append(s2.Parties, m)
				}
				for _, m := range g.Members {
					m.WaitEvent(protocol.EventSessionLoad, s2.ID)
				}
				t.CheckNoEvent(protocol.EventSessionSignup, uuid.Nil, g.Members...)
				// the same numbers name other connections in each session
				m2 := s2.msg(s2.Number[a], s2.Number[c], "S2: A to party 1, which is C here")
				s2.Message(a, m2)
				expectMessage(t, c, s2.ID, m2)
				m1 := s1.msg(s1.Number[c], s1.Number[a], "S1: C to party 1, which is A here")
				s1.Message(c, m1)
				expectMessage(t, a, s1.ID, m1)
				bc := s1.msg(s1.Number[b], 0, "S1: B to all")
				s1.Message(b, bc)
				expectMessage(t, a, s1.ID, bc)
				expectMessage(t, c, s1.ID, bc)
				t.ExpectNoEvent(protocol.EventSessionMessage, uuid.Nil, g.Members...)
				// finishing S1 closes S1 only
				s1.FinishAll()
				t.CheckNoEvent(protocol.EventSessionClosed, uuid.Nil, g.Members...)
				last := s2.msg(s2.Number[b], 0, "S2 still runs")
				s2.Message(b, last)
				expectMessage(t, a, s2.ID, last)
				expectMessage(t, c, s2.ID, last)
				for _, m := range s2.Parties[:2] {
					m.Finish(g.ID, s2.ID, s2.Number[m])
				}
				t.ExpectNoEvent(protocol.EventSessionClosed, uuid.Nil, g.Members...)
			},
		},
		// §3.6: Every group and session uuid is fresh: no two of them, groups and sessions alike,
		// share one.
		// §3.6: a session is reached only through its own group; §4.7: the session is the one the
		// params name, and the relay forwards the message's uuid unchanged (§3.5: it routes on
		// receiver only) — so a uuid field naming another group's session reaches no one there.
		&Case{
			ID:          "3.6/message-uuid-field-does-not-route",
			Requirement: "A message sent in a session of group 1 whose uuid field names a session of group 2 (the sender is no member of it) reaches no party of group 2; if accepted it reaches group 1's party with the uuid unchanged.",
			Level:       Must, Labels: []string{"session", "routing", "membership", "security"},
			Run: func(t *T) {
				s1 := t.ReadyKeygen(2, 1)
				a, b := s1.Parties[0], s1.Parties[1]
				x, y := t.Dial("X"), t.Dial("Y")
				g2 := x.CreateGroup(t.Label(), 2, 1)
				y.JoinGroup(g2)
				s2 := x.CreateSession(g2, protocol.KindKeygen, nil)
				y.WaitEvent(protocol.EventSessionCreate, s2.UUID)
				x.Signup(g2, s2.UUID, protocol.KindKeygen)
				y.JoinSession(g2, s2.UUID, protocol.KindKeygen)
				y.Signup(g2, s2.UUID, protocol.KindKeygen)
				x.WaitEvent(protocol.EventSessionSignup, s2.UUID)
				y.WaitEvent(protocol.EventSessionSignup, s2.UUID)
				for _, to := range []uint16{0, s1.Number[b]} { // a broadcast, then to party 2 (Y holds 2 in s2)
					m := s1.msg(s1.Number[a], to, "in group 1's session, uuid naming group 2's")
					m.UUID = s2.UUID
					resp := a.Raw(protocol.MethodSessionMessage, protocol.SessionMessageParams{GroupID: s1.G.ID, SessionID: s1.ID, Kind: s1.Kind, Message: m})
					if resp.Error != nil {
						t.Info("a message whose uuid is not its session's refused: %s", resp.Error)
					} else {
						expectMessage(t, b, s2.UUID, m)
					}
				}
				t.ExpectNoEvent(protocol.EventSessionMessage, uuid.Nil, x, y)
			},
		},
		&Case{
			ID:          "3.6/uuids-fresh",
			Requirement: "The uuids of groups and of their sessions, keygen and sign, are all different.",
			Level:       Must, Labels: []string{"objects", "group", "session"},
			Run: func(t *T) {
				a := t.Dial("A")
				seen := map[uuid.UUID]string{}
				add := func(id uuid.UUID, what string) {
					if prev, dup := seen[id]; dup {
						t.Failf("a fresh uuid for "+what, "%s, already the uuid of %s", id, prev)
					}
					seen[id] = what
				}
				for i := 1; i <= 3; i++ {
					g := a.CreateGroup(t.Label(), 2, 1)
					add(g, fmt.Sprintf("group %d", i))
					for _, kind := range []protocol.SessionKind{protocol.KindKeygen, protocol.KindSign, protocol.KindKeygen} {
						s := a.CreateSession(g, kind, nil)
						add(s.UUID, fmt.Sprintf("a %s session of group %d", kind, i))
					}
				}
			},
		},
		// §3.6: An event is sent when the rule that triggers it fires, to the connections that
		// rule names at that moment, and at no other time.
		&Case{
			ID:          "3.6/no-past-events-for-new-member",
			Requirement: "A connection joining a group later receives none of the events sent before it joined (sessionCreate, notifyProposal), and the events of rules that fire after.",
			Level:       Must, Labels: []string{"group", "events"},
			Run: func(t *T) {
				g := t.NewGroup(3, 1, 2)
				a, b := g.Members[0], g.Members[1]
				s := g.NewSession(protocol.KindKeygen, "before C")
				b.WaitEvent(protocol.EventSessionCreate, s.ID)
				a.OK(protocol.MethodNotifyProposal, protocol.NotifyProposalParams{GroupID: g.ID, SessionID: s.ID, ProposalID: "p0", Message: "before C"}, nil)
				b.WaitEvent(protocol.EventNotifyProposal, s.ID)
				s.Signup(a)
				s.Signup(b)
				c := t.Dial("C")
				c.JoinGroup(g.ID)
				t.ExpectNoEvent("", uuid.Nil, c)
				// rules firing now name C
				s.Signup(c)
				for _, m := range []*Conn{a, b, c} {
					m.WaitEvent(protocol.EventSessionSignup, s.ID)
				}
				a.OK(protocol.MethodNotifyProposal, protocol.NotifyProposalParams{GroupID: g.ID, SessionID: s.ID, ProposalID: "p1", Message: "after C"}, nil)
				ev := c.WaitEvent(protocol.EventNotifyProposal, s.ID)
				var p protocol.Proposal
				if err := json.Unmarshal(ev.Payload, &p); err != nil || p.ProposalID != "p1" {
					t.Failf(`notifyProposal "p1" on C`, "%s", ev.Payload)
				}
			},
		},
	)
}
