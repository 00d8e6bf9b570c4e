package faultproxy_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gorilla/websocket"

	"mpcrelay/faultproxy"
)

// pongRelay is a stand-in relay that answers a ping with "relay " + its payload (so a test tells
// its pong from one the proxy made up), and reports when its read loop ended.
func pongRelay(t *testing.T) (url string, ended chan error) {
	t.Helper()
	ended = make(chan error, 1)
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		c, err := up.Upgrade(w, req, nil)
		if err != nil {
			return
		}
		defer c.Close()
		c.SetPingHandler(func(data string) error {
			return c.WriteControl(websocket.PongMessage, []byte("relay "+data), time.Now().Add(time.Second))
		})
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				ended <- err
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http"), ended
}

// rawClient dials url and returns the socket, to write frames by hand.
func rawClient(t *testing.T, url string) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, _, err := ws.Dialer{}.Dial(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func writeFrame(t *testing.T, conn net.Conn, op ws.OpCode, fin bool, payload string) {
	t.Helper()
	if err := ws.WriteFrame(conn, ws.MaskFrameInPlace(ws.NewFrame(op, fin, []byte(payload)))); err != nil {
		t.Fatal(err)
	}
}

// nextPong reads frames until a pong, or returns ok false after d.
func nextPong(conn net.Conn, d time.Duration) (string, bool) {
	_ = conn.SetReadDeadline(time.Now().Add(d))
	for {
		f, err := ws.ReadFrame(conn)
		if err != nil {
			return "", false
		}
		if f.Header.OpCode == ws.OpPong {
			return string(f.Payload), true
		}
	}
}

// A client's ping reaches the relay and the relay's pong comes back (the proxy answers neither);
// control rules may drop the ping or rewrite the pong, and other rules never see them.
func TestPingsAndPongsPassThroughControlRules(t *testing.T) {
	url, _ := pongRelay(t)
	var seen []string
	plain := faultproxy.Rule{Name: "data only", Apply: func(f *faultproxy.Frame) { seen = append(seen, f.Control) }}

	p := startProxy(t, url, plain)
	conn := rawClient(t, p.URL())
	writeFrame(t, conn, ws.OpPing, true, "one")
	if pong, ok := nextPong(conn, 5*time.Second); !ok || pong != "relay one" {
		t.Fatalf(`the relay's pong "relay one", got %q (ok %v)`, pong, ok)
	}
	if len(seen) != 0 {
		t.Errorf("a rule without Control saw control frames: %q", seen)
	}

	dropped := startProxy(t, url, faultproxy.Rule{Name: "no ping", Control: true, Dir: faultproxy.ToRelay, Match: func(f *faultproxy.Frame) bool { return f.Control == "ping" }, Apply: (*faultproxy.Frame).Drop})
	conn = rawClient(t, dropped.URL())
	writeFrame(t, conn, ws.OpPing, true, "two")
	if pong, ok := nextPong(conn, 500*time.Millisecond); ok {
		t.Errorf("a dropped ping answered with %q", pong)
	}

	rewritten := startProxy(t, url, faultproxy.Rule{Name: "pong", Control: true, Dir: faultproxy.ToClient, Apply: func(f *faultproxy.Frame) { f.Replace([]byte("other")) }})
	conn = rawClient(t, rewritten.URL())
	writeFrame(t, conn, ws.OpPing, true, "three")
	if pong, ok := nextPong(conn, 5*time.Second); !ok || pong != "other" {
		t.Errorf(`the rewritten pong "other", got %q (ok %v)`, pong, ok)
	}
}

// A message with a ping between its fragments is marked PingInside; one without is not.
func TestPingBetweenFragmentsIsMarked(t *testing.T) {
	url, _ := pongRelay(t)
	marks := make(chan bool, 2)
	p := startProxy(t, url, faultproxy.Rule{Name: "mark", Dir: faultproxy.ToRelay, Apply: func(f *faultproxy.Frame) { marks <- f.PingInside }})
	conn := rawClient(t, p.URL())
	writeFrame(t, conn, ws.OpText, false, `{"a":`)
	writeFrame(t, conn, ws.OpPing, true, "between")
	writeFrame(t, conn, ws.OpContinuation, true, `1}`)
	writeFrame(t, conn, ws.OpText, false, `{"b":`)
	writeFrame(t, conn, ws.OpContinuation, true, `2}`)
	for i, want := range []bool{true, false} {
		select {
		case got := <-marks:
			if got != want {
				t.Errorf("message %d: PingInside %v, want %v", i+1, got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("message %d never reached the rules", i+1)
		}
	}
}

// A client whose socket is cut (no close frame) leaves with CloseCode 0, one that sends a close
// frame with its code; a control rule that drops the leaving keeps the relay side open.
func TestClientLeavingIsAControlFrame(t *testing.T) {
	url, ended := pongRelay(t)
	codes := make(chan int, 2)
	p := startProxy(t, url, faultproxy.Rule{Name: "leave", Control: true, Dir: faultproxy.ToRelay, Match: func(f *faultproxy.Frame) bool { return f.Control == "close" }, Apply: func(f *faultproxy.Frame) {
		codes <- f.CloseCode
		if f.CloseCode == 0 {
			f.Drop()
		}
	}})
	cut := rawClient(t, p.URL())
	_ = cut.Close()
	if code := <-codes; code != 0 {
		t.Errorf("a cut socket leaves with CloseCode 0, got %d", code)
	}
	select {
	case err := <-ended:
		t.Fatalf("the relay side ended though the rule dropped the leaving: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	closing := rawClient(t, p.URL())
	writeFrame(t, closing, ws.OpClose, true, string(ws.NewCloseFrameBody(4001, "bye")))
	if code := <-codes; code != 4001 {
		t.Errorf("a close frame's code 4001, got %d", code)
	}
	select {
	case <-ended: // the second connection's relay side (the first stays open)
	case <-time.After(closeBound):
		t.Fatal("the relay side of a client that sent a close frame is still open")
	}
}
