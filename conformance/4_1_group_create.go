package conformance

import (
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"mpcrelay/relay/protocol"
)

func init() {
	register("4.1", "Group.create",
		// §4.1: Creates a group whose only member is the caller. Result: the group's uuid string.
		&Case{
			ID:          "4.1/create-returns-uuid",
			Requirement: "Group.create returns the new group's UUID as a string: another connection joins the group by it, and the creator is its member.",
			Level:       Must, Labels: []string{"group"},
			Run: func(t *T) {
				a := t.Dial("A")
				label := t.Label()
				resp := a.OK(protocol.MethodGroupCreate, protocol.GroupCreateParams{Label: label, Params: protocol.Parameters{Parties: 3, Threshold: 2}}, nil)
				var s string
				if err := json.Unmarshal(resp.Result, &s); err != nil {
					t.Failf("a JSON string result", "%s", resp.Result)
				}
				id, err := uuid.Parse(s)
				if err != nil {
					t.Failf("a UUID string", "%q", s)
				}
				// the uuid names this very group: B finds it by the uuid, and A is in it
				b := t.Dial("B")
				resp = b.Raw(protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: id})
				var g protocol.Group
				if resp.Error != nil || json.Unmarshal(resp.Result, &g) != nil || g.UUID != id || g.Label != label {
					t.Failf(fmt.Sprintf("Group.join of the returned uuid %s returns the group just created (label %q)", id, label), "%s", resp.Raw)
				}
				a.CreateSession(id, protocol.KindSign, nil)
			},
		},
		// §4.1: Rules, in this order, each -32603: parties > 1, threshold > 0, threshold < parties.
		groupRuleCase("4.1/parties-must-exceed-one", "Group.create with parties 1 is refused with error -32603.", 1, 1),
		groupRuleCase("4.1/threshold-must-be-positive", "Group.create with threshold 0 is refused with error -32603.", 3, 0),
		groupRuleCase("4.1/threshold-below-parties", "Group.create with threshold equal to parties is refused with error -32603.", 3, 3),
	)
}

func groupRuleCase(id, req string, parties, threshold uint16) *Case {
	return &Case{
		ID: id, Requirement: req, Level: Must, Labels: []string{"group", "errors"},
		Run: func(t *T) {
			a := t.Dial("A")
			a.ExpectError(protocol.MethodGroupCreate, protocol.GroupCreateParams{Label: t.Label(), Params: protocol.Parameters{Parties: parties, Threshold: threshold}}, protocol.CodeInternal)
		},
	}
}
