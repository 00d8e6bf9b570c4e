package relay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"mpcrelay/relay"
	"mpcrelay/relay/protocol"
)

// testWait bounds every wait of a test on a frame that should arrive.
const testWait = 5 * time.Second

// quiet is how long a test listens to conclude that no frame comes.
const quiet = 150 * time.Millisecond

// startRelay starts a relay on a free port, shut down when the test ends.
func startRelay(t testing.TB, compat bool, tweak ...func(*relay.Config)) *relay.Instance {
	t.Helper()
	cfg := relay.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.Compat = compat
	for _, f := range tweak {
		f(&cfg)
	}
	inst, err := relay.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start relay: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := inst.Shutdown(ctx); err != nil {
			t.Errorf("relay shutdown: %v", err)
		}
	})
	return inst
}

// raw is a bare gorilla connection that reads synchronously: tests see every frame in the
// order the relay wrote it.
type raw struct {
	t      testing.TB
	ws     *websocket.Conn
	nextID uint64
	events []protocol.Event // read while waiting for a response, not yet taken
}

func dialRaw(t testing.TB, url string) *raw {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	ws.SetReadLimit(64 << 20)
	t.Cleanup(func() { ws.Close() })
	return &raw{t: t, ws: ws}
}

func (r *raw) send(frame string) {
	r.t.Helper()
	if err := r.ws.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		r.t.Fatalf("send: %v", err)
	}
}

// read returns the next frame, or fails the test after wait.
func (r *raw) read(wait time.Duration) (protocol.Incoming, []byte) {
	r.t.Helper()
	in, data, err := r.tryRead(wait)
	if err != nil {
		r.t.Fatalf("read: %v", err)
	}
	return in, data
}

func (r *raw) tryRead(wait time.Duration) (protocol.Incoming, []byte, error) {
	_ = r.ws.SetReadDeadline(time.Now().Add(wait))
	_, data, err := r.ws.ReadMessage()
	if err != nil {
		return protocol.Incoming{}, nil, err
	}
	in, err := protocol.DecodeIncoming(data)
	if err != nil {
		return protocol.Incoming{}, data, fmt.Errorf("relay sent %s: %w", data, err)
	}
	return in, data, nil
}

// request sends a request with a fresh id and returns the raw frame's id.
func (r *raw) request(method string, params any) uint64 {
	r.t.Helper()
	r.nextID++
	frame, err := protocol.NewRequest(r.nextID, method, params)
	if err != nil {
		r.t.Fatal(err)
	}
	r.send(string(frame))
	return r.nextID
}

// call sends a request and returns its response; events read meanwhile are kept for event().
func (r *raw) call(method string, params any) (protocol.Incoming, []byte) {
	r.t.Helper()
	id := r.request(method, params)
	return r.response(id)
}

func (r *raw) response(id uint64) (protocol.Incoming, []byte) {
	r.t.Helper()
	deadline := time.Now().Add(testWait)
	for {
		in, data := r.read(time.Until(deadline))
		if in.IsEvent() {
			ev, err := in.Event()
			if err != nil {
				r.t.Fatal(err)
			}
			r.events = append(r.events, ev)
			continue
		}
		if n, ok := in.IDNumber(); ok && uint64(n) == id {
			return in, data
		}
		r.t.Fatalf("waiting for response %d, got %s", id, data)
	}
}

// ok calls and decodes a success result into out (may be nil).
func (r *raw) ok(method string, params, out any) {
	r.t.Helper()
	in, data := r.call(method, params)
	if in.Error != nil {
		r.t.Fatalf("%s: Expected: success / Actual: %s", method, data)
	}
	if out != nil {
		if err := json.Unmarshal(in.Result, out); err != nil {
			r.t.Fatalf("%s result %s: %v", method, in.Result, err)
		}
	}
}

// fails calls and checks the error code; it returns the error.
func (r *raw) fails(method string, params any, code int) *protocol.Error {
	r.t.Helper()
	in, data := r.call(method, params)
	if in.Error == nil || in.Error.Code != code {
		r.t.Fatalf("%s: Expected: error %d / Actual: %s", method, code, data)
	}
	return in.Error
}

// event returns the next event, which must be named name.
func (r *raw) event(name string) protocol.Event {
	r.t.Helper()
	if len(r.events) == 0 {
		in, data := r.read(testWait)
		if !in.IsEvent() {
			r.t.Fatalf("Expected: event %s / Actual: %s", name, data)
		}
		ev, err := in.Event()
		if err != nil {
			r.t.Fatal(err)
		}
		r.events = append(r.events, ev)
	}
	ev := r.events[0]
	r.events = r.events[1:]
	if ev.Name != name {
		r.t.Fatalf("Expected: event %s / Actual: event %s %s", name, ev.Name, ev.Payload)
	}
	return ev
}

// noEvents checks that no event is pending for r: it sends a request that fails and requires
// its answer to be the next frame. Every event produced before the call is queued before it (§1.3).
func (r *raw) noEvents() {
	r.t.Helper()
	r.fails(protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: uuid.New()}, protocol.CodeInternal)
	if len(r.events) > 0 {
		r.t.Fatalf("Expected: no event / Actual: event %s %s", r.events[0].Name, r.events[0].Payload)
	}
}

// closed reads until the connection ends and returns the close error (nil if none came).
func (r *raw) closed() *websocket.CloseError {
	r.t.Helper()
	_ = r.ws.SetReadDeadline(time.Now().Add(testWait))
	for {
		if _, _, err := r.ws.ReadMessage(); err != nil {
			ce, _ := err.(*websocket.CloseError)
			return ce
		}
	}
}

// modes runs f in the strict default and in compat mode.
func modes(t *testing.T, f func(t *testing.T, compat bool)) {
	for _, m := range []struct {
		name   string
		compat bool
	}{{"strict", false}, {"compat", true}} {
		t.Run(m.name, func(t *testing.T) { f(t, m.compat) })
	}
}

// keygenReady builds a group of n parties (threshold t) whose members all signed up to one
// keygen session; the creator is rs[0] and rs[i] holds party number i+1.
func keygenReady(tb testing.TB, url string, n, threshold uint16) (uuid.UUID, uuid.UUID, []*raw) {
	tb.Helper()
	rs := make([]*raw, n)
	for i := range rs {
		rs[i] = dialRaw(tb, url)
	}
	g := createGroup(tb, rs[0], n, threshold)
	for _, r := range rs[1:] {
		joinGroup(tb, r, g)
	}
	s := createSession(tb, rs[0], g, protocol.KindKeygen, nil)
	for i, r := range rs {
		if i > 0 {
			r.event(protocol.EventSessionCreate)
		}
		if got := signup(tb, r, g, s.UUID, protocol.KindKeygen); got != uint16(i+1) {
			tb.Fatalf("signup: Expected: %d / Actual: %d", i+1, got)
		}
	}
	for _, r := range rs {
		r.event(protocol.EventSessionSignup)
	}
	return g, s.UUID, rs
}

// silent checks that no frame arrives within quiet.
func (r *raw) silent() {
	r.t.Helper()
	if len(r.events) > 0 {
		r.t.Fatalf("Expected: no frame / Actual: event %s %s", r.events[0].Name, r.events[0].Payload)
	}
	if _, data, err := r.tryRead(quiet); err == nil || data != nil {
		r.t.Fatalf("Expected: no frame / Actual: %s (err %v)", data, err)
	}
	// A read deadline poisons a gorilla connection; silent() is therefore the last read of r.
	r.ws = nil
}

// Flows shared by the section tests.

func createGroup(t testing.TB, r *raw, parties, threshold uint16) uuid.UUID {
	t.Helper()
	var id uuid.UUID
	r.ok(protocol.MethodGroupCreate, protocol.GroupCreateParams{Label: "test", Params: protocol.Parameters{Parties: parties, Threshold: threshold}}, &id)
	return id
}

func joinGroup(t testing.TB, r *raw, g uuid.UUID) {
	t.Helper()
	r.ok(protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: g}, nil)
}

func createSession(t testing.TB, r *raw, g uuid.UUID, kind protocol.SessionKind, value any) protocol.Session {
	t.Helper()
	v, _ := json.Marshal(value)
	var s protocol.Session
	r.ok(protocol.MethodSessionCreate, protocol.SessionCreateParams{GroupID: g, Kind: kind, Value: v}, &s)
	return s
}

func signup(t testing.TB, r *raw, g, s uuid.UUID, kind protocol.SessionKind) uint16 {
	t.Helper()
	var n uint16
	r.ok(protocol.MethodSessionSignup, protocol.SessionParams{GroupID: g, SessionID: s, Kind: kind}, &n)
	return n
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
