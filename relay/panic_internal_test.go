package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"mpcrelay/relay/protocol"
)

// A bug in one request answers -32603, is counted and logged, and leaves the relay serving.
func TestPanicInRequestAnswersInternalError(t *testing.T) {
	s, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	c := testConn(s, 1)
	answer := func(frame []byte) protocol.Incoming {
		t.Helper()
		if s.dispatch(c, frame) {
			t.Fatal("Expected: the connection stays open / Actual: close requested")
		}
		f, _ := c.pop()
		in, err := protocol.DecodeIncoming(f.data)
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	create, _ := protocol.NewRequest(1, protocol.MethodGroupCreate, protocol.GroupCreateParams{Label: "x", Params: protocol.Parameters{Parties: 2, Threshold: 1}})
	var gid uuid.UUID
	if err := json.Unmarshal(answer(create).Result, &gid); err != nil {
		t.Fatal(err)
	}
	// A group without its sessions map: Session.create panics when it adds the session, under
	// the group's lock.
	g := s.groups.get(gid)
	g.sessions = nil
	sessionCreate := func(id uint64) []byte {
		f, _ := protocol.NewRequest(id, protocol.MethodSessionCreate, protocol.SessionCreateParams{GroupID: gid, Kind: protocol.KindSign})
		return f
	}
	if in := answer(sessionCreate(2)); in.Error == nil || in.Error.Code != protocol.CodeInternal || string(in.ID) != "2" {
		t.Fatalf("Expected: -32603 answer to id 2 / Actual: %+v", in)
	}
	if got := testutil.ToFloat64(s.metrics.panics); got != 1 {
		t.Fatalf("panics metric: Expected: 1 / Actual: %v", got)
	}
	// The group's lock was released: the next request on it is served.
	g.sessions = map[uuid.UUID]*session{}
	if in := answer(sessionCreate(3)); in.Error != nil {
		t.Fatalf("Expected: success after the panic / Actual: %+v", in.Error)
	}
}

// The hand-built frames of the hot path equal the protocol package's encoders.
func TestAppendEventMatchesProtocolEncoder(t *testing.T) {
	payload := []byte(`{"round":1,"sender":2,"receiver":null,"uuid":"00000000-0000-0000-0000-000000000000","body":"x"}`)
	want, err := protocol.EncodeEvent(protocol.EventSessionMessage, rawJSON(payload))
	if err != nil {
		t.Fatal(err)
	}
	if got := appendEvent(nil, protocol.EventSessionMessage, payload); string(got) != string(want) {
		t.Fatalf("Expected: %s / Actual: %s", want, got)
	}
	wantResp, _ := protocol.Response{ID: []byte("7"), Result: protocol.NullResult}.MarshalJSON()
	if got := appendResponse(nil, []byte("7"), protocol.NullResult); string(got) != string(wantResp) {
		t.Fatalf("Expected: %s / Actual: %s", wantResp, got)
	}
}

type rawJSON []byte

func (r rawJSON) MarshalJSON() ([]byte, error) { return r, nil }

// The hand-built sessionMessage event decodes to the message it was built from, with the
// body's bytes unchanged.
func TestAppendMessageEventRoundTrips(t *testing.T) {
	for _, m := range []protocol.Message{
		{Round: 0, Sender: 1, UUID: uuid.New(), Body: []byte(`null`)},
		{Round: 65535, Sender: 65535, Receiver: protocol.Receiver(65535), UUID: uuid.New(), Body: []byte(`{"a": ["<b>",1e3,"\u00e9"]}`)},
	} {
		frame := appendMessageEvent(&m)
		in, err := protocol.DecodeIncoming(frame)
		if err != nil || !in.IsEvent() {
			t.Fatalf("Expected: an event frame / Actual: %s (%v)", frame, err)
		}
		ev, err := in.Event()
		if err != nil || ev.Name != protocol.EventSessionMessage {
			t.Fatalf("Expected: sessionMessage / Actual: %s (%v)", frame, err)
		}
		var got protocol.Message
		if err := json.Unmarshal(ev.Payload, &got); err != nil {
			t.Fatal(err)
		}
		if got.Round != m.Round || got.Sender != m.Sender || got.UUID != m.UUID || !bytes.Equal(got.Body, m.Body) ||
			(got.Receiver == nil) != (m.Receiver == nil) || (m.Receiver != nil && *got.Receiver != *m.Receiver) {
			t.Fatalf("Expected: %+v / Actual: %+v", m, got)
		}
		if m.Receiver == nil && !bytes.Contains(frame, []byte(`"receiver":null`)) {
			t.Fatalf("Expected: receiver written as null (§3.5) / Actual: %s", frame)
		}
	}
}

// §6.2: a send queue is bounded in frames (SendQueue) and in bytes (4×MaxFrameBytes); past
// either bound the connection is dropped as slow, without blocking the producer.
func TestSendQueueBounds(t *testing.T) {
	for _, tc := range []struct {
		name      string
		queue     int
		frame     int
		fit, drop int // frames that fit, then the one that drops
	}{
		{"frames", 3, 10, 3, 4},
		{"bytes", 1000, MinFrameBytes, queueBytesPerFrameLimit, queueBytesPerFrameLimit + 1},
	} {
		cfg := DefaultConfig()
		cfg.SendQueue = tc.queue
		cfg.MaxFrameBytes = MinFrameBytes
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		c := testConn(s, 1)
		f := outFrame{data: make([]byte, tc.frame)}
		for range tc.fit {
			c.enqueue(f)
		}
		if c.stopped.Load() {
			t.Fatalf("%s: Expected: %d frames fit / Actual: dropped", tc.name, tc.fit)
		}
		c.enqueue(f)
		if !c.stopped.Load() || c.stopHow.code != closeSlowClient {
			t.Fatalf("%s: Expected: dropped at frame %d with 1008 / Actual: %+v", tc.name, tc.drop, c.stopHow)
		}
		if got := testutil.ToFloat64(s.metrics.slowDisconnects); got != 1 {
			t.Fatalf("%s: slow disconnects: Expected: 1 / Actual: %v", tc.name, got)
		}
		_ = s.Shutdown(context.Background())
	}
}
