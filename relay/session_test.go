package relay_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"

	"mpcrelay/relay/protocol"
)

// §4.3: members only; keygen tells every other member, sign tells no one; value round-trips.
func TestSection4_3_SessionCreate(t *testing.T) {
	modes(t, func(t *testing.T, compat bool) {
		inst := startRelay(t, compat)
		a, b, c, outsider := dialRaw(t, inst.URL()), dialRaw(t, inst.URL()), dialRaw(t, inst.URL()), dialRaw(t, inst.URL())
		g := createGroup(t, a, 3, 1)
		joinGroup(t, b, g)
		joinGroup(t, c, g)

		e := outsider.fails(protocol.MethodSessionCreate, protocol.SessionCreateParams{GroupID: g, Kind: protocol.KindKeygen}, protocol.CodeInternal)
		if !strings.HasPrefix(e.Message, "client ") || !strings.HasSuffix(e.Message, " does not belong to the group "+g.String()) {
			t.Fatalf("Expected: the §5 text / Actual: %q", e.Message)
		}

		kg := createSession(t, a, g, protocol.KindKeygen, map[string]string{"k": "v"})
		if kg.Kind != protocol.KindKeygen || string(kg.Value) != `{"k":"v"}` || kg.UUID == uuid.Nil {
			t.Fatalf("Expected: keygen session with value / Actual: %+v", kg)
		}
		for _, r := range []*raw{b, c} {
			got, err := json.Marshal(mustSession(t, r.event(protocol.EventSessionCreate)))
			want, _ := json.Marshal(kg)
			if err != nil || string(got) != string(want) {
				t.Fatalf("Expected: sessionCreate %s / Actual: %s", want, got)
			}
		}
		a.noEvents() // not to the caller

		sg := createSession(t, a, g, protocol.KindSign, "message to sign")
		if sg.Kind != protocol.KindSign || string(sg.Value) != `"message to sign"` {
			t.Fatalf("Expected: sign session with value / Actual: %+v", sg)
		}
		b.noEvents() // sign sessions send no event

		// [group_id, kind] without value is accepted and reads as null (INFO).
		var two protocol.Session
		a.ok(protocol.MethodSessionCreate, json.RawMessage(`["`+g.String()+`","sign"]`), &two)
		if string(two.Value) != "null" {
			t.Fatalf("Expected: value null / Actual: %s", two.Value)
		}
	})
}

func mustSession(t *testing.T, ev protocol.Event) protocol.Session {
	t.Helper()
	var s protocol.Session
	if err := json.Unmarshal(ev.Payload, &s); err != nil {
		t.Fatalf("sessionCreate payload %s: %v", ev.Payload, err)
	}
	return s
}

// §4.4: unknown session (with the original's "group" slip); the session as result; joining
// does not make the caller a party.
func TestSection4_4_SessionJoin(t *testing.T) {
	modes(t, func(t *testing.T, compat bool) {
		inst := startRelay(t, compat)
		a, b := dialRaw(t, inst.URL()), dialRaw(t, inst.URL())
		g := createGroup(t, a, 2, 1)
		joinGroup(t, b, g)
		s := createSession(t, a, g, protocol.KindSign, "v")
		unknown := uuid.New()
		e := b.fails(protocol.MethodSessionJoin, protocol.SessionParams{GroupID: g, SessionID: unknown, Kind: protocol.KindSign}, protocol.CodeInternal)
		if e.Message != "group "+unknown.String()+" does not exist" {
			t.Fatalf("Expected: the §5 text / Actual: %q", e.Message)
		}
		var got protocol.Session
		b.ok(protocol.MethodSessionJoin, protocol.SessionParams{GroupID: g, SessionID: s.UUID, Kind: protocol.KindSign}, &got)
		if got.UUID != s.UUID || string(got.Value) != `"v"` {
			t.Fatalf("Expected: %+v / Actual: %+v", s, got)
		}
		// b is not a party: a peer-to-peer message to number 1 has no receiver yet.
		b.fails(protocol.MethodSessionMessage, protocol.SessionMessageParams{GroupID: g, SessionID: s.UUID, Kind: protocol.KindSign,
			Message: protocol.Message{Round: 1, Sender: 2, Receiver: protocol.Receiver(1), UUID: s.UUID}}, protocol.CodeInternal)
		if n := signup(t, b, g, s.UUID, protocol.KindSign); n != 1 {
			t.Fatalf("Expected: first signup gets 1 / Actual: %d", n)
		}
	})
}

// §4.5: numbers 1, 2, ...; sessionSignup to every party exactly once at the required count;
// beyond it strict refuses (SHOULD) and COMPAT issues a number with no event.
func TestSection4_5_SessionSignup(t *testing.T) {
	modes(t, func(t *testing.T, compat bool) {
		inst := startRelay(t, compat)
		rs := []*raw{dialRaw(t, inst.URL()), dialRaw(t, inst.URL()), dialRaw(t, inst.URL())}
		g := createGroup(t, rs[0], 3, 1)
		joinGroup(t, rs[1], g)
		joinGroup(t, rs[2], g)
		s := createSession(t, rs[0], g, protocol.KindSign, nil) // required: threshold+1 = 2
		if n := signup(t, rs[0], g, s.UUID, protocol.KindSign); n != 1 {
			t.Fatalf("Expected: 1 / Actual: %d", n)
		}
		rs[0].noEvents()
		if n := signup(t, rs[1], g, s.UUID, protocol.KindSign); n != 2 {
			t.Fatalf("Expected: 2 / Actual: %d", n)
		}
		for _, r := range rs[:2] {
			ev := r.event(protocol.EventSessionSignup)
			if string(ev.Payload) != `"`+s.UUID.String()+`"` {
				t.Fatalf("Expected: the session uuid string / Actual: %s", ev.Payload)
			}
		}
		in, data := rs[2].call(protocol.MethodSessionSignup, protocol.SessionParams{GroupID: g, SessionID: s.UUID, Kind: protocol.KindSign})
		if compat {
			if in.Error != nil || string(in.Result) != "3" {
				t.Fatalf("Expected: COMPAT issues number 3 / Actual: %s", data)
			}
		} else if in.Error == nil || in.Error.Code != protocol.CodeInternal {
			t.Fatalf("Expected: strict refuses the extra signup with -32603 / Actual: %s", data)
		}
		for _, r := range rs {
			r.noEvents() // exactly once
		}
	})
}

// §4.5: "The required count is decided by the kind of the session (COMPAT: the kind in the params)."
func TestSection4_5_RequiredCountFromSessionKind(t *testing.T) {
	modes(t, func(t *testing.T, compat bool) {
		inst := startRelay(t, compat)
		rs := []*raw{dialRaw(t, inst.URL()), dialRaw(t, inst.URL()), dialRaw(t, inst.URL())}
		g := createGroup(t, rs[0], 3, 1)
		joinGroup(t, rs[1], g)
		joinGroup(t, rs[2], g)
		s := createSession(t, rs[0], g, protocol.KindSign, nil)
		// The params say keygen (3 parties); the session is sign (2 parties).
		signup(t, rs[0], g, s.UUID, protocol.KindKeygen)
		signup(t, rs[1], g, s.UUID, protocol.KindKeygen)
		if !compat {
			rs[0].event(protocol.EventSessionSignup)
			rs[1].event(protocol.EventSessionSignup)
			return
		}
		rs[0].noEvents()
		signup(t, rs[2], g, s.UUID, protocol.KindKeygen)
		for _, r := range rs {
			r.event(protocol.EventSessionSignup)
		}
	})
}

// §4.6: load rules in order (zero, range, taken), sessionLoad to every party at the required count.
func TestSection4_6_SessionLoad(t *testing.T) {
	modes(t, func(t *testing.T, compat bool) {
		inst := startRelay(t, compat)
		rs := []*raw{dialRaw(t, inst.URL()), dialRaw(t, inst.URL()), dialRaw(t, inst.URL())}
		g := createGroup(t, rs[0], 3, 1)
		joinGroup(t, rs[1], g)
		joinGroup(t, rs[2], g)
		s := createSession(t, rs[0], g, protocol.KindSign, nil)
		load := func(r *raw, n uint16) protocol.SessionLoadParams {
			return protocol.SessionLoadParams{GroupID: g, SessionID: s.UUID, Kind: protocol.KindSign, Number: n}
		}
		var got uint16
		rs[0].ok(protocol.MethodSessionLoad, load(rs[0], 3), &got)
		if got != 3 {
			t.Fatalf("Expected: result 3 / Actual: %d", got)
		}
		for _, tc := range []struct {
			n    uint16
			text string
		}{
			{0, "party number may not be zero"},
			{4, "party number is out of range"},
			{3, "party number already exists for session " + s.UUID.String()},
		} {
			if e := rs[1].fails(protocol.MethodSessionLoad, load(rs[1], tc.n), protocol.CodeInternal); e.Message != tc.text {
				t.Fatalf("load %d: Expected: %q / Actual: %q", tc.n, tc.text, e.Message)
			}
		}
		rs[0].noEvents()
		rs[1].ok(protocol.MethodSessionLoad, load(rs[1], 1), &got)
		for _, r := range rs[:2] {
			if ev := r.event(protocol.EventSessionLoad); string(ev.Payload) != `"`+s.UUID.String()+`"` {
				t.Fatalf("Expected: the session uuid / Actual: %s", ev.Payload)
			}
		}
		rs[2].noEvents()
		// The loaded parties route messages by their loaded numbers.
		rs[1].ok(protocol.MethodSessionMessage, protocol.SessionMessageParams{GroupID: g, SessionID: s.UUID, Kind: protocol.KindSign,
			Message: protocol.Message{Round: 1, Sender: 1, Receiver: protocol.Receiver(3), UUID: s.UUID}}, nil)
		rs[0].event(protocol.EventSessionMessage)
	})
}

// §4.7: peer-to-peer to the receiver only; broadcast to every party but the caller; members
// that are not parties get nothing; unknown receivers are refused; bodies arrive unchanged
// up to the frame limit (at least 1 MiB).
func TestSection4_7_SessionMessage(t *testing.T) {
	modes(t, func(t *testing.T, compat bool) {
		inst := startRelay(t, compat)
		rs := []*raw{dialRaw(t, inst.URL()), dialRaw(t, inst.URL()), dialRaw(t, inst.URL()), dialRaw(t, inst.URL())}
		g := createGroup(t, rs[0], 4, 2)
		for _, r := range rs[1:] {
			joinGroup(t, r, g)
		}
		s := createSession(t, rs[0], g, protocol.KindSign, nil) // 3 parties; rs[3] stays a bystander
		for i, r := range rs[:3] {
			if n := signup(t, r, g, s.UUID, protocol.KindSign); n != uint16(i+1) {
				t.Fatalf("Expected: %d / Actual: %d", i+1, n)
			}
		}
		for _, r := range rs[:3] {
			r.event(protocol.EventSessionSignup)
		}
		msg := func(to *uint16, body string) protocol.SessionMessageParams {
			return protocol.SessionMessageParams{GroupID: g, SessionID: s.UUID, Kind: protocol.KindSign,
				Message: protocol.Message{Round: 2, Sender: 1, Receiver: to, UUID: s.UUID, Body: json.RawMessage(body)}}
		}
		rs[0].ok(protocol.MethodSessionMessage, msg(protocol.Receiver(3), `"p2p"`), nil)
		ev := rs[2].event(protocol.EventSessionMessage)
		want := `{"round":2,"sender":1,"receiver":3,"uuid":"` + s.UUID.String() + `","body":"p2p"}`
		if string(ev.Payload) != want {
			t.Fatalf("Expected: %s / Actual: %s", want, ev.Payload)
		}
		rs[1].noEvents()

		if e := rs[0].fails(protocol.MethodSessionMessage, msg(protocol.Receiver(9), `0`), protocol.CodeInternal); e.Message != "receiver 9 for peer to peer message does not exist" {
			t.Fatalf("Expected: the §5 text / Actual: %q", e.Message)
		}

		big := `"` + strings.Repeat("b", 3<<20/2) + `"` // 1.5 MiB: a real keygen round fits
		rs[0].ok(protocol.MethodSessionMessage, msg(nil, big), nil)
		for _, r := range rs[1:3] {
			var m protocol.Message
			if err := json.Unmarshal(r.event(protocol.EventSessionMessage).Payload, &m); err != nil || string(m.Body) != big || m.Receiver != nil {
				t.Fatalf("Expected: the broadcast body unchanged (%d bytes) / Actual: %d bytes, err %v", len(big), len(m.Body), err)
			}
		}
		rs[0].noEvents() // not to the caller
		rs[3].noEvents() // not to members that are not parties

		// The session must exist.
		other := msg(nil, `1`)
		other.SessionID = uuid.New()
		rs[0].fails(protocol.MethodSessionMessage, other, protocol.CodeInternal)
	})
}

// §4.8: finish rules; sessionClosed with the ascending numbers to every party, once per
// session (COMPAT: again on a repeated finish).
func TestSection4_8_SessionFinish(t *testing.T) {
	modes(t, func(t *testing.T, compat bool) {
		inst := startRelay(t, compat)
		g, s, rs := keygenReady(t, inst.URL(), 3, 1)
		finish := func(n uint16) protocol.SessionFinishParams {
			return protocol.SessionFinishParams{GroupID: g, SessionID: s, Number: n}
		}
		if e := rs[0].fails(protocol.MethodSessionFinish, finish(7), protocol.CodeInternal); e.Message != "party 7 does not exist" {
			t.Fatalf("Expected: the §5 text / Actual: %q", e.Message)
		}
		if e := rs[0].fails(protocol.MethodSessionFinish, finish(2), protocol.CodeInternal); e.Message != "party 2 is not valid in this context" {
			t.Fatalf("Expected: the §5 text / Actual: %q", e.Message)
		}
		for _, i := range []int{2, 0, 1} {
			rs[i].ok(protocol.MethodSessionFinish, finish(uint16(i+1)), nil)
		}
		for _, r := range rs {
			if ev := r.event(protocol.EventSessionClosed); string(ev.Payload) != "[1,2,3]" {
				t.Fatalf("Expected: [1,2,3] / Actual: %s", ev.Payload)
			}
		}
		rs[1].ok(protocol.MethodSessionFinish, finish(2), nil)
		for _, r := range rs {
			if compat {
				r.event(protocol.EventSessionClosed)
			}
			r.noEvents()
		}
	})
}
