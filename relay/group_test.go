package relay_test

import (
	"testing"

	"github.com/google/uuid"

	"mpcrelay/relay/protocol"
)

// §4.1: "Rules, in this order, each -32603: parties > 1, threshold > 0, threshold < parties."
func TestSection4_1_GroupCreateRules(t *testing.T) {
	cases := []struct {
		parties, threshold uint16
		text               string // §5, "" = success
	}{
		{1, 0, "parties must be greater than one"}, // breaks all three: the first rule wins
		{0, 5, "parties must be greater than one"},
		{2, 0, "threshold must be greater than zero"},
		{2, 2, "threshold must be less than parties"},
		{3, 7, "threshold must be less than parties"},
		{2, 1, ""},
		{65535, 65534, ""},
	}
	modes(t, func(t *testing.T, compat bool) {
		inst := startRelay(t, compat)
		r := dialRaw(t, inst.URL())
		for _, tc := range cases {
			p := protocol.GroupCreateParams{Label: "l", Params: protocol.Parameters{Parties: tc.parties, Threshold: tc.threshold}}
			if tc.text == "" {
				var id uuid.UUID
				r.ok(protocol.MethodGroupCreate, p, &id)
				if id == uuid.Nil {
					t.Fatalf("%d/%d: Expected: a group uuid / Actual: nil uuid", tc.parties, tc.threshold)
				}
				continue
			}
			if e := r.fails(protocol.MethodGroupCreate, p, protocol.CodeInternal); e.Message != tc.text {
				t.Fatalf("%d/%d: Expected: %q / Actual: %q", tc.parties, tc.threshold, tc.text, e.Message)
			}
		}
	})
}

// §4.2: unknown group; the group object as result; joining twice is idempotent.
func TestSection4_2_GroupJoin(t *testing.T) {
	modes(t, func(t *testing.T, compat bool) {
		inst := startRelay(t, compat)
		a, b, c := dialRaw(t, inst.URL()), dialRaw(t, inst.URL()), dialRaw(t, inst.URL())
		unknown := uuid.New()
		if e := b.fails(protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: unknown}, protocol.CodeInternal); e.Message != "group "+unknown.String()+" does not exist" {
			t.Fatalf("Expected: the §5 text / Actual: %q", e.Message)
		}
		g := createGroup(t, a, 3, 1)
		var obj protocol.Group
		b.ok(protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: g}, &obj)
		want := protocol.Group{UUID: g, Params: protocol.Parameters{Parties: 3, Threshold: 1}, Label: "test"}
		if obj != want {
			t.Fatalf("Expected: %+v / Actual: %+v", want, obj)
		}
		joinGroup(t, b, g) // idempotent: b still holds one place
		joinGroup(t, c, g) // so the third place is free
	})
}

// §4.2: a full group refuses a newcomer with close-connection. A member re-joining a full group
// is refused only in COMPAT (the original checks fullness before membership).
func TestSection4_2_GroupJoinFull(t *testing.T) {
	modes(t, func(t *testing.T, compat bool) {
		inst := startRelay(t, compat)
		a, b := dialRaw(t, inst.URL()), dialRaw(t, inst.URL())
		g := createGroup(t, a, 2, 1)
		joinGroup(t, b, g)
		in, data := a.call(protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: g})
		if !compat {
			if in.Error != nil {
				t.Fatalf("Expected: a member's re-join succeeds / Actual: %s", data)
			}
			return
		}
		if in.Error == nil || !in.Error.ClosesConnection() {
			t.Fatalf("Expected: group full with close-connection / Actual: %s", data)
		}
		if ce := a.closed(); ce == nil {
			t.Fatal("Expected: the relay closes the connection / Actual: no close frame")
		}
	})
}
