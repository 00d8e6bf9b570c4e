package conformance

import (
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/onsi/gomega"

	"mpcrelay/relay/protocol"
)

func init() {
	register("4.2", "Group.join",
		// §4.2: Unknown group → -32603.
		&Case{
			ID:          "4.2/join-unknown-group",
			Requirement: "Group.join of an unknown group is refused with error -32603.",
			Level:       Must, Labels: []string{"group", "errors"},
			Run: func(t *T) {
				a := t.Dial("A")
				a.ExpectError(protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: uuid.New()}, protocol.CodeInternal)
				a.ExpectUsable()
			},
		},
		// §4.2: Result: the group object (§3.2).
		&Case{
			ID:          "4.2/join-returns-group",
			Requirement: "Group.join returns the group object {uuid, params, label} as created.",
			Level:       Must, Labels: []string{"group", "objects"},
			Run: func(t *T) {
				a, b := t.Dial("A"), t.Dial("B")
				label := t.Label()
				id := a.CreateGroup(label, 3, 1)
				g := b.JoinGroup(id)
				t.Expect(g).To(gomega.Equal(protocol.Group{UUID: id, Params: protocol.Parameters{Parties: 3, Threshold: 1}, Label: label}))
			},
		},
		// §4.2: Result: the group object (§3.2), its label as the creator gave it.
		&Case{
			ID:          "4.2/label-round-trips-unicode",
			Requirement: "Group.join returns the label exactly as created: empty, accented, CJK, emoji, decomposed, escaped, separators, bidi controls, NUL.",
			Level:       Must, Labels: []string{"group", "objects"},
			Run: func(t *T) {
				a, b := t.Dial("A"), t.Dial("B")
				for _, label := range unicodeStrings {
					id := a.CreateGroup(label, 2, 1)
					resp := b.OK(protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: id}, nil)
					var g struct {
						Label json.RawMessage `json:"label"`
					}
					if err := json.Unmarshal(resp.Result, &g); err != nil {
						t.Failf("a group object", "%s", short(resp.Result))
					}
					expectJSON(t, "the label in Group.join's result", nullIfAbsent(g.Label), mustJSON(label))
				}
			},
		},
		// §4.2: If the group already has `parties` members the relay answers -32603 with
		// data:"close-connection" and closes the connection (MUST). §2.5.
		&Case{
			ID:          "4.2/full-group-closes-connection",
			Requirement: `Joining a full group is refused with -32603, data "close-connection", and the relay closes that connection.`,
			Level:       Must, Labels: []string{"group", "errors", "lifecycle"},
			Run: func(t *T) {
				g := t.NewGroup(2, 1, 2)
				c := t.Dial("C")
				e := c.ExpectError(protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: g.ID}, protocol.CodeInternal)
				if e.Data != protocol.CloseConnection {
					t.Failf(`error data "close-connection"`, "%q", e.Data)
				}
				c.ExpectClosed()
				g.Members[0].ExpectUsable() // the members are not affected
			},
		},
		// §4.2: ... the group already has `parties` members — counted atomically with the join:
		// of several connections joining the last places at the same moment, the surplus is refused.
		&Case{
			ID:          "4.2/concurrent-joins-fill-group-exactly",
			Requirement: fmt.Sprintf("When three connections join a group of 3 parties with one member at the same moment, two are accepted and one is refused with -32603, data \"close-connection\", and closed (%d groups in turn).", concurrentRounds),
			Level:       Must, Labels: []string{"group", "errors", "lifecycle", "concurrency"},
			Run: func(t *T) {
				for round := range concurrentRounds {
					a := t.Dial(fmt.Sprintf("A%d", round+1))
					g := a.CreateGroup(t.Label(), 3, 1)
					var calls []Call
					for _, name := range []string{"B", "C", "D"} {
						calls = append(calls, Call{t.Dial(fmt.Sprintf("%s%d", name, round+1)), protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: g}})
					}
					var refused []*Conn
					for i, resp := range t.AtOnce(calls...) {
						switch {
						case resp.Error == nil:
						case resp.Error.Code == protocol.CodeInternal && resp.Error.Data == protocol.CloseConnection:
							refused = append(refused, calls[i].Conn)
						default:
							t.Failf(`success, or error -32603 with data "close-connection", on `+calls[i].Conn.Name, "%s", resp.Raw)
						}
					}
					if len(refused) != 1 {
						t.Failf("one of three joins at once refused (the group had room for two)", "%d refused", len(refused))
					}
					refused[0].ExpectClosed()
				}
			},
		},
		// §4.2: Joining twice is idempotent.
		&Case{
			ID:          "4.2/join-twice-idempotent",
			Requirement: "A member joining its group again succeeds and does not take a second place in the group.",
			Level:       Must, Labels: []string{"group"},
			Run: func(t *T) {
				g := t.NewGroup(3, 1, 2)
				g.Members[1].JoinGroup(g.ID)
				c := t.Dial("C")
				c.JoinGroup(g.ID) // the third place is still free
			},
		},
		// §4.2: COMPAT: the original checks fullness before membership, so even a member
		// re-joining a full group is refused.
		&Case{
			ID:          "4.2/member-rejoins-full-group",
			Requirement: "A member re-joining its full group is accepted (COMPAT: refused with close-connection).",
			Level:       Compat, Labels: []string{"group"},
			Run: func(t *T) {
				g := t.NewGroup(2, 1, 2)
				resp := g.Members[1].Raw(protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: g.ID})
				if resp.Error != nil {
					if resp.Error.Code != protocol.CodeInternal {
						t.Failf("success, or (COMPAT) error -32603", "error %d", resp.Error.Code)
					}
					t.NonStrict("COMPAT: re-join of a full group refused: %s", resp.Error)
				}
			},
		},
	)
}
