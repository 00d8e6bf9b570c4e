package relay_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"mpcrelay/relay/protocol"
)

func broadcast(g, s uuid.UUID, round uint16, body string) protocol.SessionMessageParams {
	return protocol.SessionMessageParams{GroupID: g, SessionID: s, Kind: protocol.KindKeygen,
		Message: protocol.Message{Round: round, Sender: 1, UUID: s, Body: json.RawMessage(body)}}
}

// §2.1: a notification is executed and gets no success response.
func TestSection2_1_NotificationRunsWithoutResponse(t *testing.T) {
	modes(t, func(t *testing.T, compat bool) {
		inst := startRelay(t, compat)
		g, s, rs := keygenReady(t, inst.URL(), 2, 1)
		params, _ := json.Marshal(broadcast(g, s, 1, `"hi"`))
		rs[0].send(`{"jsonrpc":"2.0","method":"Session.message","params":` + string(params) + `}`)
		ev := rs[1].event(protocol.EventSessionMessage)
		if !bytes.Contains(ev.Payload, []byte(`"body":"hi"`)) {
			t.Fatalf("Expected: the notified message / Actual: %s", ev.Payload)
		}
		rs[0].noEvents()
	})
}

// §2.1: a failing notification: strict answers nothing (JSON-RPC 2.0); COMPAT sends the error
// object without an id, as the original does.
func TestSection2_1_FailingNotification(t *testing.T) {
	modes(t, func(t *testing.T, compat bool) {
		inst := startRelay(t, compat)
		r := dialRaw(t, inst.URL())
		r.send(`{"jsonrpc":"2.0","method":"Group.join","params":"` + uuid.NewString() + `"}`)
		if compat {
			in, data := r.read(testWait)
			if in.ID != nil || in.Error == nil || in.Error.Code != protocol.CodeInternal {
				t.Fatalf("Expected: error -32603 without id / Actual: %s", data)
			}
		}
		r.noEvents()
	})
}

// §2.2: void methods answer "result":null (strict, SHOULD) or omit "result" (COMPAT).
func TestSection2_2_VoidResult(t *testing.T) {
	modes(t, func(t *testing.T, compat bool) {
		inst := startRelay(t, compat)
		g, s, rs := keygenReady(t, inst.URL(), 2, 1)
		void := []struct {
			method string
			params any
		}{
			{protocol.MethodSessionMessage, broadcast(g, s, 1, `1`)},
			{protocol.MethodNotifyProposal, protocol.NotifyProposalParams{GroupID: g, SessionID: s, ProposalID: "p", Message: "m"}},
			{protocol.MethodNotifySigned, protocol.NotifySignedParams{GroupID: g, SessionID: s, Value: json.RawMessage(`"sig"`)}},
			{protocol.MethodSessionFinish, protocol.SessionFinishParams{GroupID: g, SessionID: s, Number: 1}},
		}
		for _, v := range void {
			in, data := rs[0].call(v.method, v.params)
			want := `{"jsonrpc":"2.0","id":` + itoa(rs[0].nextID) + `,"result":null}`
			if compat {
				want = `{"jsonrpc":"2.0","id":` + itoa(rs[0].nextID) + `}`
			}
			if in.Error != nil || string(data) != want {
				t.Fatalf("%s: Expected: %s / Actual: %s", v.method, want, data)
			}
		}
	})
}

// §2.3: -32601 for unknown methods, -32602 for params that do not decode (decoder text in data).
func TestSection2_3_ErrorCodes(t *testing.T) {
	g := uuid.NewString()
	cases := []struct {
		name, method, params string
		code                 int
	}{
		{"unknown method", "Group.delete", `[]`, protocol.CodeMethodNotFound},
		{"missing params", "Group.create", ``, protocol.CodeInvalidParams},
		{"wrong type", "Group.create", `{"label":"x"}`, protocol.CodeInvalidParams},
		{"wrong arity", "Group.create", `["x"]`, protocol.CodeInvalidParams},
		{"too many elements", "Session.signup", `["` + g + `","` + g + `","keygen",1]`, protocol.CodeInvalidParams},
		{"bad uuid", "Session.join", `["not-a-uuid","` + g + `","keygen"]`, protocol.CodeInvalidParams},
		{"join params as array", "Group.join", `["` + g + `"]`, protocol.CodeInvalidParams},
		{"number outside u16", "Session.load", `["` + g + `","` + g + `","keygen",65536]`, protocol.CodeInvalidParams},
		{"negative number", "Session.finish", `["` + g + `","` + g + `",-1]`, protocol.CodeInvalidParams},
		{"parties outside u16", "Group.create", `["x",{"parties":70000,"threshold":1}]`, protocol.CodeInvalidParams},
		{"unknown kind", "Session.create", `["` + g + `","reshare",null]`, protocol.CodeInvalidParams},
		{"null element", "Session.join", `[null,"` + g + `","keygen"]`, protocol.CodeInvalidParams},
	}
	modes(t, func(t *testing.T, compat bool) {
		inst := startRelay(t, compat)
		r := dialRaw(t, inst.URL())
		for i, tc := range cases {
			frame := `{"jsonrpc":"2.0","id":` + itoa(uint64(i+1)) + `,"method":"` + tc.method + `"`
			if tc.params != "" {
				frame += `,"params":` + tc.params
			}
			r.send(frame + `}`)
			in, data := r.response(uint64(i + 1))
			if in.Error == nil || in.Error.Code != tc.code {
				t.Fatalf("%s: Expected: error %d / Actual: %s", tc.name, tc.code, data)
			}
			switch tc.code {
			case protocol.CodeMethodNotFound:
				if in.Error.Message != "Service method not found: "+tc.method { // §5
					t.Fatalf("%s: Expected: the original's text / Actual: %q", tc.name, in.Error.Message)
				}
			case protocol.CodeInvalidParams:
				if in.Error.Message != "Message parameters are invalid" || in.Error.Data == "" { // §5
					t.Fatalf("%s: Expected: the original's text and the decoder's text in data / Actual: %s", tc.name, data)
				}
			}
		}
	})
}

// §2.4: events carry "id":0 and ["<eventName>", payload].
func TestSection2_4_EventEnvelope(t *testing.T) {
	inst := startRelay(t, false)
	a, b := dialRaw(t, inst.URL()), dialRaw(t, inst.URL())
	g := createGroup(t, a, 2, 1)
	joinGroup(t, b, g)
	s := createSession(t, a, g, protocol.KindKeygen, map[string]int{"v": 1})
	_, data := b.read(testWait)
	want, err := protocol.EncodeEvent(protocol.EventSessionCreate, s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, want) {
		t.Fatalf("Expected: %s / Actual: %s", want, data)
	}
}

// §2.5: a close-connection error is the last frame; the relay then closes the connection.
func TestSection2_5_CloseConnection(t *testing.T) {
	modes(t, func(t *testing.T, compat bool) {
		inst := startRelay(t, compat)
		a, b, c := dialRaw(t, inst.URL()), dialRaw(t, inst.URL()), dialRaw(t, inst.URL())
		g := createGroup(t, a, 2, 1)
		joinGroup(t, b, g)
		e := c.fails(protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: g}, protocol.CodeInternal)
		if !e.ClosesConnection() || !strings.Contains(e.Message, "is full") {
			t.Fatalf("Expected: group full with data close-connection / Actual: %+v", e)
		}
		if ce := c.closed(); ce == nil || ce.Code != websocket.ClosePolicyViolation {
			t.Fatalf("Expected: close 1008 after the error / Actual: %v", ce)
		}
		// The others are unaffected (§6.2).
		s := createSession(t, a, g, protocol.KindKeygen, nil)
		b.event(protocol.EventSessionCreate)
		if s.Kind != protocol.KindKeygen {
			t.Fatalf("Expected: keygen session / Actual: %+v", s)
		}
	})
}

// §3.5: round, sender and uuid are required; receiver absent is forwarded as null; body is
// forwarded as equal JSON (the reference relay forwards its bytes unchanged).
func TestSection3_5_Message(t *testing.T) {
	modes(t, func(t *testing.T, compat bool) {
		inst := startRelay(t, compat)
		g, s, rs := keygenReady(t, inst.URL(), 2, 1)
		for _, missing := range []string{"round", "sender", "uuid"} {
			m := map[string]any{"round": 1, "sender": 1, "uuid": s, "body": 1}
			delete(m, missing)
			raw, _ := json.Marshal([]any{g, s, "keygen", m})
			e := rs[0].fails(protocol.MethodSessionMessage, json.RawMessage(raw), protocol.CodeInvalidParams)
			if !strings.Contains(e.Data, missing) {
				t.Fatalf("missing %s: Expected: data naming the field / Actual: %q", missing, e.Data)
			}
		}
		raw := `["` + g.String() + `","` + s.String() + `","keygen",{"round":3,"sender":1,"uuid":"` + s.String() + `","body":{"b": [1, 2.5, "x", null, true]}}]`
		rs[0].send(`{"jsonrpc":"2.0","id":77,"method":"Session.message","params":` + raw + `}`)
		if in, data := rs[0].response(77); in.Error != nil {
			t.Fatalf("Expected: success / Actual: %s", data)
		}
		ev := rs[1].event(protocol.EventSessionMessage)
		want := `{"round":3,"sender":1,"receiver":null,"uuid":"` + s.String() + `","body":{"b": [1, 2.5, "x", null, true]}}`
		if string(ev.Payload) != want {
			t.Fatalf("Expected: %s / Actual: %s", want, ev.Payload)
		}
	})
}
