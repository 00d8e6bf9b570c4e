package faultproxy_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// closeBound is how soon the relay side must be closed once the proxy knows the connection is
// over, however slow either side is to read: the close frame gets a second, then the socket is
// closed.
const closeBound = 3 * time.Second

// wsRelay is a stand-in relay that reports, on ended, when its read loop stopped (the moment a
// relay stops counting the connection), and starts reading only once reading is closed (nil:
// at once). It floods the client with frames when flood is set.
type wsRelay struct {
	url     string
	ended   chan error
	reading chan struct{}
}

func startWSRelay(t *testing.T, flood bool, reading chan struct{}) *wsRelay {
	t.Helper()
	r := &wsRelay{ended: make(chan error, 1), reading: reading}
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ws, err := up.Upgrade(w, req, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		ws.SetReadLimit(64 << 20)
		if flood {
			go func() {
				frame := []byte(strings.Repeat("x", 64<<10))
				for ws.WriteMessage(websocket.TextMessage, frame) == nil {
				}
			}()
		}
		if r.reading != nil {
			<-r.reading
		}
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				r.ended <- err
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	r.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	return r
}

func dialWS(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	return ws
}

// A client that stopped reading and then leaves with a close frame (keeping its socket open, as
// the closing handshake allows) must not hold the relay side open: the proxy's write to that
// client is blocked, and closing the client side must not wait for it.
func TestClientCloseReachesRelayWhileClientSideIsBlocked(t *testing.T) {
	relay := startWSRelay(t, true, nil)
	p := startProxy(t, relay.url)
	client := dialWS(t, p.URL())
	time.Sleep(time.Second) // the flood fills the client's socket: the proxy's write to it blocks
	closed := time.Now()
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	if err := client.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-relay.ended:
		if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
			t.Errorf("the relay side ends with the close frame (1000), got %v", err)
		}
		t.Logf("relay side closed %s after the client's close frame", time.Since(closed).Round(time.Millisecond))
	case <-time.After(closeBound):
		t.Fatalf("the relay side is still open %s after the client's close frame", closeBound)
	}
}

// Closing a connection (a rule's or a test's "the link drops") while the relay is not reading
// and the proxy's write to it is blocked returns within the bound and closes the relay's socket.
func TestConnCloseWhileRelaySideIsBlocked(t *testing.T) {
	reading := make(chan struct{})
	relay := startWSRelay(t, false, reading)
	p := startProxy(t, relay.url)
	client := dialWS(t, p.URL())
	go func() { // more than the sockets hold: the proxy's write to the relay blocks
		frame := make([]byte, 2<<20)
		for range 16 {
			_ = client.SetWriteDeadline(time.Now().Add(20 * time.Second))
			if client.WriteMessage(websocket.BinaryMessage, frame) != nil {
				return
			}
		}
	}()
	time.Sleep(time.Second)
	conns := p.Conns()
	if len(conns) != 1 {
		t.Fatalf("one proxied connection, got %d", len(conns))
	}
	began := time.Now()
	conns[0].Close(4000, "link down")
	if took := time.Since(began); took > closeBound {
		t.Fatalf("Conn.Close took %s (bound %s) while the relay was not reading", took.Round(time.Millisecond), closeBound)
	}
	close(reading) // the relay reads what reached it, then finds its socket closed
	select {
	case err := <-relay.ended:
		t.Logf("relay side ended: %v", err)
	case <-time.After(closeBound):
		t.Fatal("the relay's socket is still open after Conn.Close")
	}
}
