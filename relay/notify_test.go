package relay_test

import (
	"encoding/json"
	"testing"

	"mpcrelay/relay/protocol"
)

// §4.9: notifyProposal to every member but the caller; strict refuses non-members (SHOULD, a
// security case), COMPAT lets anyone who knows the group uuid push proposals.
func TestSection4_9_NotifyProposal(t *testing.T) {
	modes(t, func(t *testing.T, compat bool) {
		inst := startRelay(t, compat)
		a, b, c, outsider := dialRaw(t, inst.URL()), dialRaw(t, inst.URL()), dialRaw(t, inst.URL()), dialRaw(t, inst.URL())
		g := createGroup(t, a, 3, 1)
		joinGroup(t, b, g)
		joinGroup(t, c, g)
		s := createSession(t, a, g, protocol.KindSign, nil)
		p := protocol.NotifyProposalParams{GroupID: g, SessionID: s.UUID, ProposalID: "prop-1", Message: "sign this"}
		a.ok(protocol.MethodNotifyProposal, p, nil)
		want := `{"sessionId":"` + s.UUID.String() + `","proposalId":"prop-1","message":"sign this"}`
		for _, r := range []*raw{b, c} {
			if ev := r.event(protocol.EventNotifyProposal); string(ev.Payload) != want {
				t.Fatalf("Expected: %s / Actual: %s", want, ev.Payload)
			}
		}
		a.noEvents()

		in, data := outsider.call(protocol.MethodNotifyProposal, p)
		if !compat {
			if in.Error == nil || in.Error.Code != protocol.CodeInternal {
				t.Fatalf("Expected: strict refuses a non-member / Actual: %s", data)
			}
			b.noEvents()
			return
		}
		if in.Error != nil {
			t.Fatalf("Expected: COMPAT accepts a non-member / Actual: %s", data)
		}
		for _, r := range []*raw{a, b, c} {
			r.event(protocol.EventNotifyProposal)
		}
	})
}

// §4.10: notifySigned to every member that is not a party of the session.
func TestSection4_10_NotifySigned(t *testing.T) {
	modes(t, func(t *testing.T, compat bool) {
		inst := startRelay(t, compat)
		rs := []*raw{dialRaw(t, inst.URL()), dialRaw(t, inst.URL()), dialRaw(t, inst.URL())}
		g := createGroup(t, rs[0], 3, 1)
		joinGroup(t, rs[1], g)
		joinGroup(t, rs[2], g)
		s := createSession(t, rs[0], g, protocol.KindSign, nil)
		signup(t, rs[0], g, s.UUID, protocol.KindSign)
		signup(t, rs[1], g, s.UUID, protocol.KindSign)
		rs[0].event(protocol.EventSessionSignup)
		rs[1].event(protocol.EventSessionSignup)
		rs[0].ok(protocol.MethodNotifySigned, protocol.NotifySignedParams{GroupID: g, SessionID: s.UUID, Value: json.RawMessage(`{"r":"01","s":"02"}`)}, nil)
		if ev := rs[2].event(protocol.EventNotifySigned); string(ev.Payload) != `{"r":"01","s":"02"}` {
			t.Fatalf(`Expected: {"r":"01","s":"02"} / Actual: %s`, ev.Payload)
		}
		rs[0].noEvents()
		rs[1].noEvents()
	})
}
