package relay_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"

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

// §4.9, §3: a proposal, a session's value and a group's label reach their receivers as the
// client wrote them, not HTML-escaped: encoding/json turns each '<', '>' and '&' into six bytes,
// so a 96 KiB proposal of them became a 576 KiB event (a 1 MiB one, past the send queue's
// 4 MiB byte bound, dropped its receivers as slow, §6.2). The frames are written by hand, as a
// JSON encoder that escapes would hide the bug.
func TestSection4_9_ProposalValueAndLabelAreNotInflated(t *testing.T) {
	modes(t, func(t *testing.T, compat bool) {
		inst := startRelay(t, compat)
		a, b := dialRaw(t, inst.URL()), dialRaw(t, inst.URL())
		result := func(r *raw, what string) []byte {
			t.Helper()
			in, data := r.read(testWait)
			if in.Error != nil || in.IsEvent() {
				t.Fatalf("%s: Expected: a success response / Actual: %s", what, data)
			}
			return in.Result
		}
		a.send(`{"jsonrpc":"2.0","id":1,"method":"Group.create","params":["<a & b>",{"parties":2,"threshold":1}]}`)
		var g uuid.UUID
		if err := json.Unmarshal(result(a, "Group.create"), &g); err != nil {
			t.Fatal(err)
		}
		b.send(`{"jsonrpc":"2.0","id":1,"method":"Group.join","params":"` + g.String() + `"}`)
		if res := result(b, "Group.join"); !bytes.Contains(res, []byte(`"label":"<a & b>"`)) {
			t.Fatalf(`Expected: the label as written, "<a & b>" / Actual: %s`, res)
		}
		a.send(`{"jsonrpc":"2.0","id":2,"method":"Session.create","params":["` + g.String() + `","keygen","<&>"]}`)
		var s protocol.Session
		if err := json.Unmarshal(result(a, "Session.create"), &s); err != nil {
			t.Fatal(err)
		}
		if ev := b.event(protocol.EventSessionCreate); !bytes.Contains(ev.Payload, []byte(`"<&>"`)) {
			t.Fatalf(`Expected: the value as written, "<&>" / Actual: %s`, ev.Payload)
		}
		msg := strings.Repeat("<>&", 32<<10)
		a.send(`{"jsonrpc":"2.0","id":3,"method":"Notify.proposal","params":["` + g.String() + `","` + s.UUID.String() + `","p","` + msg + `"]}`)
		result(a, "Notify.proposal")
		ev := b.event(protocol.EventNotifyProposal)
		var got protocol.Proposal
		if err := json.Unmarshal(ev.Payload, &got); err != nil || got.Message != msg {
			t.Fatalf("Expected: the proposal's message unchanged / Actual: %v, %d bytes", err, len(got.Message))
		}
		if len(ev.Payload) > len(msg)+200 {
			t.Fatalf("Expected: an event about the size of its %d-byte message / Actual: %d bytes", len(msg), len(ev.Payload))
		}
	})
}
