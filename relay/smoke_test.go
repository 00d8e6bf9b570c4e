package relay_test

import (
	"testing"

	"mpcrelay/relay/protocol"
)

func TestKeygenFlowSmoke(t *testing.T) {
	for _, compat := range []bool{false, true} {
		inst := startRelay(t, compat)
		a, b, c := dialRaw(t, inst.URL()), dialRaw(t, inst.URL()), dialRaw(t, inst.URL())
		g := createGroup(t, a, 3, 1)
		joinGroup(t, b, g)
		joinGroup(t, c, g)
		s := createSession(t, a, g, protocol.KindKeygen, nil)
		b.event(protocol.EventSessionCreate)
		c.event(protocol.EventSessionCreate)
		for i, r := range []*raw{a, b, c} {
			if n := signup(t, r, g, s.UUID, protocol.KindKeygen); n != uint16(i+1) {
				t.Fatalf("signup %d got %d", i+1, n)
			}
		}
		for _, r := range []*raw{a, b, c} {
			r.event(protocol.EventSessionSignup)
		}
		a.ok(protocol.MethodSessionMessage, protocol.SessionMessageParams{GroupID: g, SessionID: s.UUID, Kind: protocol.KindKeygen,
			Message: protocol.Message{Round: 1, Sender: 1, UUID: s.UUID, Body: []byte(`{"x":1}`)}}, nil)
		b.event(protocol.EventSessionMessage)
		c.event(protocol.EventSessionMessage)
	}
}
