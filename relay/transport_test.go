package relay_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"mpcrelay/relay"
	"mpcrelay/relay/protocol"
)

// §1.1: the original's defaults.
func TestSection1_1_Defaults(t *testing.T) {
	inst := startRelay(t, false)
	if !strings.HasPrefix(inst.URL(), "ws://127.0.0.1:") || !strings.HasSuffix(inst.URL(), "/mpc") {
		t.Fatalf("Expected: ws://127.0.0.1:PORT/mpc / Actual: %s", inst.URL())
	}
	if got := inst.Server().Config(); got.Path != "/mpc" {
		t.Fatalf("Expected: path /mpc / Actual: %s", got.Path)
	}
}

// §1.2: "Binary frames are ignored (MUST NOT close the connection)."
func TestSection1_2_BinaryFramesIgnored(t *testing.T) {
	modes(t, func(t *testing.T, compat bool) {
		inst := startRelay(t, compat)
		r := dialRaw(t, inst.URL())
		if err := r.ws.WriteMessage(websocket.BinaryMessage, []byte(`{"jsonrpc":"2.0","id":1,"method":"Group.create","params":["x",{"parties":2,"threshold":1}]}`)); err != nil {
			t.Fatal(err)
		}
		r.noEvents() // the next frame is the answer to this request: nothing answered the binary frame
		createGroup(t, r, 2, 1)
	})
}

// §1.3: "the response to a request is written before any event that the same request triggers".
func TestSection1_3_ResponseBeforeEvents(t *testing.T) {
	modes(t, func(t *testing.T, compat bool) {
		inst := startRelay(t, compat)
		a, b := dialRaw(t, inst.URL()), dialRaw(t, inst.URL())
		g := createGroup(t, a, 2, 1)
		joinGroup(t, b, g)
		s := createSession(t, a, g, protocol.KindKeygen, nil)
		b.event(protocol.EventSessionCreate)
		signup(t, a, g, s.UUID, protocol.KindKeygen)
		id := b.request(protocol.MethodSessionSignup, protocol.SessionParams{GroupID: g, SessionID: s.UUID, Kind: protocol.KindKeygen})
		first, data := b.read(testWait)
		if n, ok := first.IDNumber(); !ok || uint64(n) != id {
			t.Fatalf("Expected: response %d first / Actual: %s", id, data)
		}
		second, data := b.read(testWait)
		if ev, err := second.Event(); !second.IsEvent() || err != nil || ev.Name != protocol.EventSessionSignup {
			t.Fatalf("Expected: sessionSignup after the response / Actual: %s", data)
		}
	})
}

// §1.3: "writes to one connection in the order it produced the frames".
func TestSection1_3_EventsKeepTheirOrder(t *testing.T) {
	inst := startRelay(t, false)
	g, s, rs := keygenReady(t, inst.URL(), 3, 1)
	// Fewer frames than a send queue holds (256): however the scheduler delays a receiver's
	// writer, no receiver can be dropped as a slow client, so only the order is tested.
	const n = 200
	for i := range n {
		rs[0].request(protocol.MethodSessionMessage, protocol.SessionMessageParams{GroupID: g, SessionID: s, Kind: protocol.KindKeygen,
			Message: protocol.Message{Round: uint16(i), Sender: 1, UUID: s, Body: []byte(`"x"`)}})
	}
	for _, r := range rs[1:] {
		for i := range n {
			in, data := r.read(testWait)
			ev, err := in.Event()
			if err != nil || ev.Name != protocol.EventSessionMessage || !bytes.Contains(ev.Payload, []byte(`"round":`+itoa(uint64(i))+`,`)) {
				t.Fatalf("Expected: sessionMessage round %d / Actual: %s", i, data)
			}
		}
	}
}

// §1.4: non-JSON and non-request frames neither crash the relay nor close the connection.
// Strict answers -32700/-32600 with "id":null (SHOULD); COMPAT answers nothing.
func TestSection1_4_InvalidFrames(t *testing.T) {
	cases := []struct {
		name, frame string
		code        int
		id          string // the id the strict answer carries
	}{
		{"not JSON", `{"jsonrpc":`, protocol.CodeParseError, "null"},
		{"empty", ``, protocol.CodeParseError, "null"},
		{"plain text", `hello`, protocol.CodeParseError, "null"},
		{"number", `42`, protocol.CodeInvalidRequest, "null"},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"Group.join","params":"x"}]`, protocol.CodeInvalidRequest, "null"},
		{"no method", `{"jsonrpc":"2.0","id":5}`, protocol.CodeInvalidRequest, "5"},
		{"method not a string", `{"jsonrpc":"2.0","id":6,"method":7}`, protocol.CodeInvalidRequest, "null"},
		{"wrong version", `{"jsonrpc":"1.0","id":8,"method":"Group.join","params":"x"}`, protocol.CodeInvalidRequest, "8"},
		{"a response", `{"jsonrpc":"2.0","id":9,"result":1}`, protocol.CodeInvalidRequest, "9"},
		{"object id", `{"jsonrpc":"2.0","id":{},"method":"Group.join"}`, protocol.CodeInvalidRequest, "null"},
	}
	modes(t, func(t *testing.T, compat bool) {
		inst := startRelay(t, compat)
		r := dialRaw(t, inst.URL())
		for _, tc := range cases {
			r.send(tc.frame)
			if !compat {
				in, data := r.read(testWait)
				if in.Error == nil || in.Error.Code != tc.code || string(in.ID) != tc.id {
					t.Fatalf("%s: Expected: error %d with id %s / Actual: %s", tc.name, tc.code, tc.id, data)
				}
			}
			r.noEvents() // COMPAT: nothing came back; both: the connection is still usable
		}
		createGroup(t, r, 2, 1)
	})
}

// §1.3 with §6.2: a client that pipelines many more requests than its send queue holds is
// slowed down, not dropped, and gets every response in order.
func TestSection1_3_PipelinedRequestsAreNotDropped(t *testing.T) {
	inst := startRelay(t, false, func(c *relay.Config) { c.SendQueue = 8 })
	r := dialRaw(t, inst.URL())
	g := createGroup(t, r, 2, 1)
	s := createSession(t, r, g, protocol.KindSign, nil)
	first := r.nextID + 1
	const n = 500
	for range n {
		r.request(protocol.MethodSessionJoin, protocol.SessionParams{GroupID: g, SessionID: s.UUID, Kind: protocol.KindSign})
	}
	for id := first; id < first+n; id++ {
		if in, data := r.response(id); in.Error != nil {
			t.Fatalf("Expected: success for %d / Actual: %s", id, data)
		}
	}
	if got := metric(t, inst, "mpcrelay_slow_client_disconnects_total"); got != 0 {
		t.Fatalf("slow disconnects: Expected: 0 / Actual: %v", got)
	}
}
