package replay

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"

	"mpcrelay/relay/protocol"
	"mpcrelay/scenarios/trace"
)

// The scanner reads what encoding/json reads, in any field order, with or without spaces.
func TestScanEventMatchesEncodingJSON(t *testing.T) {
	id := uuid.New()
	body := []byte(`{"k":3,"pad":"xx\"y\\"}`)
	frames := []string{
		`{"jsonrpc":"2.0","id":0,"result":["sessionMessage",{"round":2,"sender":1,"receiver":3,"uuid":"` + id.String() + `","body":` + string(body) + `}]}`,
		` { "result" : [ "sessionMessage" , { "body" : ` + string(body) + ` , "uuid" : "` + id.String() + `" , "receiver" : null , "sender" : 1 , "round" : 2 } ] , "id" : 0 , "jsonrpc" : "2.0" } `,
		`{"jsonrpc":"2.0","id":0,"result":["sessionMessage",{"round":2,"sender":1,"uuid":"` + id.String() + `","body":{ "k" : 3 , "pad" : "xx\"y\\" }, "extra": [1, {"a": true}, -2.5e3]}]}`,
	}
	for _, f := range frames {
		var want protocol.Incoming
		if err := json.Unmarshal([]byte(f), &want); err != nil {
			t.Fatal(err)
		}
		wantEv, err := want.Event()
		if err != nil {
			t.Fatal(err)
		}
		var wantMsg protocol.Message
		if err := json.Unmarshal(wantEv.Payload, &wantMsg); err != nil {
			t.Fatal(err)
		}
		env, ok := scanEnvelope([]byte(f))
		if !ok || !env.isEvent() {
			t.Fatalf("Expected: an event\nActual:   not scanned: %s", f)
		}
		name, payload, ok := env.event()
		if !ok || string(name) != wantEv.Name {
			t.Fatalf("Expected: %s\nActual:   %q %v", wantEv.Name, name, ok)
		}
		m, ok := scanMessage(payload, func(k int) []byte { return body })
		if !ok {
			t.Fatalf("message not scanned: %s", payload)
		}
		rcv := -1
		if wantMsg.Receiver != nil {
			rcv = int(*wantMsg.Receiver)
		}
		if m.round != wantMsg.Round || m.sender != wantMsg.Sender || m.receiver != rcv || string(m.uuid) != wantMsg.UUID.String() || !jsonEqual(m.body, wantMsg.Body) {
			t.Errorf("Expected: %+v\nActual:   %+v (body %s)", wantMsg, m, m.body)
		}
		// The jsontext candidate BenchmarkReadDelivery measures reads the same.
		var jr jsonReader
		jm, ok := jr.delivery([]byte(f), func(k int) []byte { return body })
		if !ok || jm.round != m.round || jm.sender != m.sender || jm.receiver != m.receiver || string(jm.uuid) != string(m.uuid) || !jsonEqual(jm.body, m.body) {
			t.Errorf("jsontext\nExpected: %+v\nActual:   %+v %v", m, jm, ok)
		}
	}
}

func TestScanRejectsBrokenFrames(t *testing.T) {
	for _, f := range []string{
		``, `{`, `[]`, `{"id":0,"result":["sessionMessage",{"round":1}]`, `{"id":0 "result":1}`,
		`{"id":0,"result":["a",1]} x`, `{"id":"unterminated}`, `{"id":tru}`,
	} {
		if env, ok := scanEnvelope([]byte(f)); ok {
			if _, _, ok := env.event(); ok && env.isEvent() {
				t.Errorf("Expected: %q refused\nActual:   scanned as an event", f)
			}
		}
	}
	// Required message fields (§3.5).
	for _, m := range []string{`{"sender":1,"uuid":"x","body":1}`, `{"round":1,"sender":1,"body":1}`, `{"round":70000,"sender":1,"uuid":"x","body":1}`} {
		if _, ok := scanMessage([]byte(m), nil); ok {
			t.Errorf("Expected: %s refused\nActual:   scanned", m)
		}
	}
}

// A body that differs from the one sent is not taken on the fast path.
func TestScanMessageFallsBackWhenBodyDiffers(t *testing.T) {
	sent := []byte(`{"k":0,"pad":"xxxx"}`)
	got := `{"round":1,"sender":1,"uuid":"u","body":{"k":0,"pad":"xxyx"}}`
	m, ok := scanMessage([]byte(got), func(int) []byte { return sent })
	if !ok || !m.slowBody || jsonEqual(m.body, sent) {
		t.Errorf("Expected: slow path, unequal\nActual:   %+v", m)
	}
}

// The pre-encoded frame is the request the protocol package would encode.
func TestAppendFrameEqualsEncodedRequest(t *testing.T) {
	rcv := uint16(3)
	tr := &trace.Session{ID: "s", Kind: "keygen", Parties: 3, Threshold: 1, Members: []uint16{1, 2, 3},
		Messages: []trace.Message{{Round: 2, Sender: 1, Receiver: &rcv, Size: 300}, {Round: 1, Sender: 2, Size: 50}}}
	p, err := newPlan(tr, false)
	if err != nil {
		t.Fatal(err)
	}
	g, s := uuid.New(), uuid.New()
	for i, r := range []int{3, -1} {
		frame := p.appendFrame(nil, i, 42, g.String(), s.String(), p.s.Messages[i].Sender, r)
		msg := protocol.Message{Round: p.msgs[i].round, Sender: p.s.Messages[i].Sender, UUID: s, Body: p.msgs[i].body}
		if r >= 0 {
			msg.Receiver = protocol.Receiver(uint16(r))
		}
		want, err := protocol.NewRequest(42, protocol.MethodSessionMessage, protocol.SessionMessageParams{GroupID: g, SessionID: s, Kind: p.kind, Message: msg})
		if err != nil {
			t.Fatal(err)
		}
		if !jsonEqual(frame, want) {
			t.Errorf("Expected: %s\nActual:   %s", want, frame)
		}
		if bytes.Count(frame, p.msgs[i].body) != 1 {
			t.Error("the body is not in the frame once")
		}
	}
}

func FuzzScanEnvelopeAcceptsOnlyJSON(f *testing.F) {
	f.Add(`{"jsonrpc":"2.0","id":0,"result":["sessionMessage",{"round":2,"sender":1,"receiver":null,"uuid":"u","body":{"k":1}}]}`)
	f.Add(`{"jsonrpc":"2.0","id":7,"error":{"code":-32603,"message":"m"}}`)
	f.Fuzz(func(t *testing.T, s string) {
		env, ok := scanEnvelope([]byte(s))
		if !ok {
			return
		}
		// Whatever is accepted has the structure of a JSON object; numbers and escapes are
		// checked only where they are read, so compare with encoding/json on the spans read.
		if env.result != nil && env.isEvent() {
			if name, payload, ok := env.event(); ok {
				var v []json.RawMessage
				if json.Unmarshal(env.result, &v) == nil && (len(v) != 2 || !bytes.Contains(env.result, name) || len(payload) == 0) {
					t.Errorf("event %s split as %q %q", env.result, name, payload)
				}
			}
		}
	})
}

// The appended session calls are the params the protocol package would encode.
func TestSessionParamsEqualEncodedParams(t *testing.T) {
	g, s := uuid.New(), uuid.New()
	for _, tc := range []struct {
		got  []byte
		want any
	}{
		{sessionParams(g.String(), "", "keygen", "null"), protocol.SessionCreateParams{GroupID: g, Kind: protocol.KindKeygen}},
		{sessionParams(g.String(), s.String(), "sign", ""), protocol.SessionParams{GroupID: g, SessionID: s, Kind: protocol.KindSign}},
		{sessionParams(g.String(), s.String(), "", "3"), protocol.SessionFinishParams{GroupID: g, SessionID: s, Number: 3}},
	} {
		want, err := json.Marshal(tc.want)
		if err != nil {
			t.Fatal(err)
		}
		if !jsonEqual(tc.got, want) {
			t.Errorf("Expected: %s\nActual:   %s", want, tc.got)
		}
	}
}

func TestNumbersReadsPartyArrays(t *testing.T) {
	for in, want := range map[string][]uint16{`[1,2,3]`: {1, 2, 3}, ` [ 2 , 7 ] `: {2, 7}, `[]`: nil} {
		got, ok := numbers([]byte(in))
		if !ok || len(got) != len(want) || (len(want) > 0 && got[len(got)-1] != want[len(want)-1]) {
			t.Errorf("%s: Expected: %v\nActual:   %v %v", in, want, got, ok)
		}
	}
	for _, in := range []string{`[1,`, `[1 2]`, `["1"]`, `[70000]`, `{}`, `[1]x`} {
		if _, ok := numbers([]byte(in)); ok {
			t.Errorf("Expected: %s refused", in)
		}
	}
}

// Nesting deeper than encoding/json takes is refused, not walked: each level is a call, and a
// relay's 64 MiB frame of brackets would take the reading goroutine past its stack limit.
func TestScanRefusesNestingEncodingJSONRefuses(t *testing.T) {
	for _, depth := range []int{maxDepth - 10, maxDepth + 10} {
		nested := strings.Repeat(`[{"a":`, depth/2) + "1" + strings.Repeat(`}]`, depth/2)
		frame := []byte(`{"jsonrpc":"2.0","id":0,"result":["note",` + nested + `]}`)
		_, ok := scanEnvelope(frame)
		var v any
		want := json.Unmarshal(frame, &v) == nil
		if ok != want {
			t.Errorf("Expected: depth %d scanned %v, as encoding/json\nActual:   %v", depth, want, ok)
		}
	}
}
