package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"mpcrelay/relay/protocol"
)

// scripted starts a WebSocket server whose connection handler is the test's script.
func scripted(t *testing.T, script func(conn *websocket.Conn)) string {
	t.Helper()
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		script(conn)
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

func readRequest(t *testing.T, conn *websocket.Conn) protocol.Request {
	t.Helper()
	_, data, err := conn.ReadMessage()
	if err != nil {
		t.Errorf("server read: %v", err)
		return protocol.Request{}
	}
	req, _, rpcErr := protocol.DecodeRequest(data)
	if rpcErr != nil {
		t.Errorf("server got a frame that is not a request: %s: %v", data, rpcErr)
		return protocol.Request{}
	}
	return *req
}

// hold keeps the connection open until the client closes it.
func hold(conn *websocket.Conn) {
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			return
		}
	}
}

func writeRaw(t *testing.T, conn *websocket.Conn, frame string) {
	t.Helper()
	if err := conn.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		t.Errorf("server write: %v", err)
	}
}

func dial(t *testing.T, url string, opts ...Option) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestTypedCallSendsPositionalParamsAndDecodesResult(t *testing.T) {
	group := uuid.New()
	url := scripted(t, func(conn *websocket.Conn) {
		req := readRequest(t, conn)
		if req.Method != protocol.MethodGroupCreate || string(req.Params) != `["lab",{"parties":3,"threshold":1}]` {
			t.Errorf("request = %s %s", req.Method, req.Params)
		}
		writeRaw(t, conn, `{"jsonrpc":"2.0","id":`+string(req.ID)+`,"result":"`+group.String()+`"}`)
		hold(conn)
	})
	c := dial(t, url)
	got, err := c.GroupCreate(ctx(t), "lab", protocol.Parameters{Parties: 3, Threshold: 1})
	if err != nil || got != group {
		t.Fatalf("GroupCreate = %v, %v; want %v", got, err, group)
	}
}

// §2.2: clients MUST accept both the omitted result and "result":null.
func TestVoidMethodAcceptsOmittedAndNullResult(t *testing.T) {
	for _, tail := range []string{`}`, `,"result":null}`} {
		url := scripted(t, func(conn *websocket.Conn) {
			req := readRequest(t, conn)
			writeRaw(t, conn, `{"jsonrpc":"2.0","id":`+string(req.ID)+tail)
			hold(conn)
		})
		c := dial(t, url)
		if err := c.SessionFinish(ctx(t), uuid.New(), uuid.New(), 1); err != nil {
			t.Fatalf("response %q: %v", tail, err)
		}
	}
}

func TestErrorResponseIsRPCError(t *testing.T) {
	url := scripted(t, func(conn *websocket.Conn) {
		req := readRequest(t, conn)
		writeRaw(t, conn, `{"jsonrpc":"2.0","id":`+string(req.ID)+`,"error":{"code":-32603,"message":"party number may not be zero"}}`)
		hold(conn)
	})
	c := dial(t, url)
	_, err := c.SessionLoad(ctx(t), uuid.New(), uuid.New(), protocol.KindKeygen, 0)
	var rpc *RPCError
	if !errors.As(err, &rpc) || rpc.Code != protocol.CodeInternal {
		t.Fatalf("err = %v, want *RPCError -32603", err)
	}
}

// §1.3, §2.4: events (id 0) are told from responses, and a response precedes the events after it.
func TestResponseIsDeliveredBeforeTheEventThatFollowsIt(t *testing.T) {
	session := uuid.New()
	url := scripted(t, func(conn *websocket.Conn) {
		req := readRequest(t, conn)
		writeRaw(t, conn, `{"jsonrpc":"2.0","id":`+string(req.ID)+`,"result":1}`)
		writeRaw(t, conn, `{"jsonrpc":"2.0","id":0,"result":["sessionSignup","`+session.String()+`"]}`)
		hold(conn)
	})
	c := dial(t, url)
	var order []string
	var mu sync.Mutex
	ev, err := c.Await(ctx(t), Filter{Names: []string{protocol.EventSessionSignup}, Session: session}, func() error {
		n, err := c.SessionSignup(ctx(t), uuid.New(), session, protocol.KindKeygen)
		mu.Lock()
		order = append(order, "response")
		mu.Unlock()
		if n != 1 {
			t.Errorf("party number %d, want 1", n)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	order = append(order, "event")
	mu.Unlock()
	if id, _ := ev.AsUUID(); id != session || strings.Join(order, ",") != "response,event" {
		t.Fatalf("event %s, order %v", ev.Payload, order)
	}
}

func TestSubscriptionFiltersByNameAndSession(t *testing.T) {
	mine, other := uuid.New(), uuid.New()
	msg := func(s uuid.UUID, round int) string {
		return `{"jsonrpc":"2.0","id":0,"result":["sessionMessage",{"round":` + string(rune('0'+round)) + `,"sender":1,"receiver":null,"uuid":"` + s.String() + `","body":"x"}]}`
	}
	ready := make(chan struct{})
	url := scripted(t, func(conn *websocket.Conn) {
		<-ready
		writeRaw(t, conn, msg(other, 1))
		writeRaw(t, conn, `{"jsonrpc":"2.0","id":0,"result":["sessionClosed",[1,2]]}`)
		writeRaw(t, conn, msg(mine, 2))
		writeRaw(t, conn, msg(mine, 3))
		hold(conn)
	})
	c := dial(t, url)
	sub := c.Subscribe(Filter{Names: []string{protocol.EventSessionMessage}, Session: mine})
	defer sub.Close()
	close(ready)
	for _, want := range []uint16{2, 3} {
		ev, err := sub.Next(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		m, err := ev.AsMessage()
		if err != nil || m.Round != want || m.UUID != mine || m.Receiver != nil {
			t.Fatalf("got %+v (%v), want round %d of %s", m, err, want, mine)
		}
	}
}

// A subscriber that does not read must not block the reader: calls keep completing.
func TestSlowSubscriberDoesNotBlockCalls(t *testing.T) {
	url := scripted(t, func(conn *websocket.Conn) {
		req := readRequest(t, conn) // the client subscribed before it called
		for i := 0; i < 1000; i++ {
			writeRaw(t, conn, `{"jsonrpc":"2.0","id":0,"result":["notifySigned","v"]}`)
		}
		writeRaw(t, conn, `{"jsonrpc":"2.0","id":`+string(req.ID)+`,"result":null}`)
		hold(conn)
	})
	c := dial(t, url)
	sub := c.Subscribe(Filter{})
	defer sub.Close()
	if err := c.NotifySigned(ctx(t), uuid.New(), uuid.New(), "sig"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1000; i++ {
		if _, err := sub.Next(ctx(t)); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
}

// §2.5: a close-connection error fails the call with it, and Err reports it after the close.
func TestCloseConnectionErrorEndsTheClient(t *testing.T) {
	url := scripted(t, func(conn *websocket.Conn) {
		req := readRequest(t, conn)
		writeRaw(t, conn, `{"jsonrpc":"2.0","id":`+string(req.ID)+`,"error":{"code":-32603,"message":"group g is full, cannot accept new connections","data":"close-connection"}}`)
	})
	c := dial(t, url)
	_, err := c.GroupJoin(ctx(t), uuid.New())
	var rpc *RPCError
	if !errors.As(err, &rpc) || !rpc.ClosesConnection() {
		t.Fatalf("GroupJoin err = %v, want close-connection *RPCError", err)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("client did not notice the close")
	}
	if err := c.Err(); !errors.Is(err, ErrClosed) || !errors.As(err, &rpc) {
		t.Fatalf("Err() = %v, want ErrClosed wrapping the RPC error", err)
	}
	if _, err := c.SessionSignup(ctx(t), uuid.New(), uuid.New(), protocol.KindKeygen); !errors.Is(err, ErrClosed) {
		t.Fatalf("call after close = %v, want ErrClosed", err)
	}
}

// A relay that closes while a call is pending fails that call at once, not at its deadline.
func TestServerCloseFailsPendingCallsAtOnce(t *testing.T) {
	url := scripted(t, func(conn *websocket.Conn) {
		readRequest(t, conn)
		_ = conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "bye"))
	})
	c := dial(t, url)
	start := time.Now()
	_, err := c.SessionJoin(context.Background(), uuid.New(), uuid.New(), protocol.KindSign)
	if !errors.Is(err, ErrClosed) || time.Since(start) > 3*time.Second {
		t.Fatalf("err = %v after %v, want ErrClosed promptly", err, time.Since(start))
	}
	<-c.Done()
	if c.CloseCode() != websocket.CloseGoingAway {
		t.Fatalf("close code %d, want 1001", c.CloseCode())
	}
}

func TestCallHonoursContextDeadline(t *testing.T) {
	url := scripted(t, func(conn *websocket.Conn) {
		readRequest(t, conn) // never answers
		hold(conn)
	})
	c := dial(t, url)
	cctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.SessionJoin(cctx, uuid.New(), uuid.New(), protocol.KindSign)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
}

// Close drops unmatched frames nobody read and closes the channel: the queue's goroutine does
// not outlive the client (it did, blocked on a frame no one would read: a goroutine per client
// that got a late answer to a call it had given up on).
func TestCloseDropsUnreadUnmatchedFrames(t *testing.T) {
	url := scripted(t, func(conn *websocket.Conn) {
		writeRaw(t, conn, `{"jsonrpc":"2.0","id":7,"result":null}`) // answers no call: unmatched
		writeRaw(t, conn, `{"jsonrpc":"2.0","method":"sessionClosed","params":[1]}`)
		hold(conn)
	})
	second := make(chan struct{})
	var n atomic.Int32
	c := dial(t, url, WithFrameHook(func(f Frame) {
		if f.Dir == Received && n.Add(1) == 2 {
			close(second) // frames are dispatched in order: the first is queued by now
		}
	}))
	select {
	case <-second:
	case <-time.After(5 * time.Second):
		t.Fatal("the two frames did not arrive")
	}
	_ = c.Close()
	select {
	case f, ok := <-c.Unmatched():
		if ok {
			t.Fatalf("Expected: Unmatched closed at Close, its unread frame dropped\nActual:   got %s", f.Data)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Expected: Unmatched closed at Close (its goroutine closes it as it ends)\nActual:   still open after 5 s")
	}
}

func TestRawLayerUnmatchedFramesAndHook(t *testing.T) {
	url := scripted(t, func(conn *websocket.Conn) {
		_, data, _ := conn.ReadMessage()
		if string(data) != `not json` {
			t.Errorf("server got %q", data)
		}
		writeRaw(t, conn, `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}`)
		_ = conn.WriteMessage(websocket.BinaryMessage, []byte{1, 2})
		hold(conn)
	})
	var mu sync.Mutex
	var seen []Frame
	c := dial(t, url, WithFrameHook(func(f Frame) { mu.Lock(); seen = append(seen, f); mu.Unlock() }))
	if err := c.Send(ctx(t), []byte("not json")); err != nil {
		t.Fatal(err)
	}
	f := <-c.Unmatched()
	in, err := protocol.DecodeIncoming(f.Data)
	if err != nil || in.Error == nil || in.Error.Code != protocol.CodeParseError {
		t.Fatalf("unmatched frame %s (%v)", f.Data, err)
	}
	if f := <-c.Unmatched(); !f.Binary {
		t.Fatalf("second unmatched frame %q is not the binary one", f.Data)
	}
	mu.Lock()
	defer mu.Unlock()
	// The sent frame may be hooked after the reply (it is reported once its write returns),
	// but its stamp is from before the write: ordered by At, it comes first.
	sort.SliceStable(seen, func(i, j int) bool { return seen[i].At.Before(seen[j].At) })
	if len(seen) != 3 || seen[0].Dir != Sent || seen[1].Dir != Received || seen[1].At.IsZero() {
		t.Fatalf("hook saw %+v", seen)
	}
}

func TestConcurrentCallsEachGetTheirOwnResponse(t *testing.T) {
	url := scripted(t, func(conn *websocket.Conn) {
		var reqs []protocol.Request
		for i := 0; i < 50; i++ {
			reqs = append(reqs, readRequest(t, conn))
		}
		for i := len(reqs) - 1; i >= 0; i-- { // answer out of order
			var p protocol.SessionLoadParams
			_ = json.Unmarshal(reqs[i].Params, &p)
			b, _ := protocol.EncodeResult(reqs[i].ID, p.Number)
			writeRaw(t, conn, string(b))
		}
		hold(conn)
	})
	c := dial(t, url)
	var wg sync.WaitGroup
	for i := 1; i <= 50; i++ {
		wg.Add(1)
		go func(n uint16) {
			defer wg.Done()
			got, err := c.SessionLoad(ctx(t), uuid.New(), uuid.New(), protocol.KindKeygen, n)
			if err != nil || got != n {
				t.Errorf("load %d = %d, %v", n, got, err)
			}
		}(uint16(i))
	}
	wg.Wait()
}
