package conformance

import (
	"encoding/json"

	"github.com/google/uuid"

	"mpcrelay/relay/protocol"
)

func init() {
	register("4.1", "Group.create",
		// §4.1: Creates a group whose only member is the caller. Result: the group's uuid string.
		&Case{
			ID:          "4.1/create-returns-uuid",
			Requirement: "Group.create with valid parameters returns the new group's UUID as a string.",
			Level:       Must, Labels: []string{"group"},
			Run: func(t *T) {
				a := t.Dial("A")
				resp := a.OK(protocol.MethodGroupCreate, protocol.GroupCreateParams{Label: t.Label(), Params: protocol.Parameters{Parties: 3, Threshold: 2}}, nil)
				var s string
				if err := json.Unmarshal(resp.Result, &s); err != nil {
					t.Failf("a JSON string result", "%s", resp.Result)
				}
				if _, err := uuid.Parse(s); err != nil {
					t.Failf("a UUID string", "%q", s)
				}
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
