package replay

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// pollServer is a WebSocket server whose connections the test writes to: conns gets each one
// as it is upgraded (its reads only answer the client's close).
func pollServer(t *testing.T) (url string, conns chan *websocket.Conn) {
	conns = make(chan *websocket.Conn, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		c, err := (&websocket.Upgrader{}).Upgrade(rw, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		conns <- c
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http"), conns
}

// dialOnPoller dials a wire read by the same poller as the wire dialled before it (the pollers
// take connections in turn): len(pollers)-1 others are dialled in between.
func dialOnPoller(t *testing.T, url string, conns chan *websocket.Conn, onFrame func([]byte, *envelope, time.Time)) (*wire, *websocket.Conn) {
	t.Helper()
	for range len(pollers) - 1 {
		w, err := dialWire(context.Background(), url, "", func([]byte, *envelope, time.Time) {})
		if err != nil {
			t.Fatal(err)
		}
		<-conns
		t.Cleanup(w.stop)
	}
	w, err := dialWire(context.Background(), url, "", onFrame)
	if err != nil {
		t.Fatal(err)
	}
	if w.sock.Load() == nil {
		t.Fatal("Expected: a wire read by a poller\nActual:   by a goroutine of its own")
	}
	t.Cleanup(w.stop)
	return w, <-conns
}

// A frame's time is when the read that brought it returned, never earlier: a poller that
// handles several connections in one harvest reads the later ones after the earlier ones'
// frames were handled, and bytes that arrived meanwhile were not there when the harvest began.
func TestPollerStampsFramesWhenTheyAreRead(t *testing.T) {
	url, conns := pollServer(t)
	hold := make(chan struct{}) // a frame on c or a keeps the poller in its harvest until closed
	holding := make(chan string, 2)
	blocking := func(name string) func([]byte, *envelope, time.Time) {
		return func([]byte, *envelope, time.Time) { holding <- name; <-hold }
	}
	wc, err := dialWire(context.Background(), url, "", blocking("c"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wc.stop)
	if wc.sock.Load() == nil {
		t.Skip("no poller on this system")
	}
	sc := <-conns
	_, sa := dialOnPoller(t, url, conns, blocking("a"))
	var mu sync.Mutex
	stamps := map[string]time.Time{}
	_, sb := dialOnPoller(t, url, conns, func(f []byte, _ *envelope, at time.Time) {
		mu.Lock()
		stamps[string(f)] = at
		mu.Unlock()
	})

	// c holds the poller while a and then b get a frame: the next harvest has both, a first.
	write := func(c *websocket.Conn, s string) {
		if err := c.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	write(sc, "{}")
	if got := <-holding; got != "c" {
		t.Fatalf("Expected: c's frame first\nActual:   %s", got)
	}
	write(sa, "{}")
	time.Sleep(20 * time.Millisecond)
	write(sb, `{"n":1}`)
	time.Sleep(20 * time.Millisecond)
	hold <- struct{}{} // c's frame done; the harvest of a and b begins
	if got := <-holding; got != "a" {
		t.Fatalf("Expected: a's frame\nActual:   %s", got)
	}
	// The harvest has begun and holds at a: b's second frame arrives before b is read.
	sent := time.Now()
	write(sb, `{"n":2}`)
	time.Sleep(20 * time.Millisecond)
	close(hold)
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		at, ok := stamps[`{"n":2}`]
		mu.Unlock()
		if ok {
			if at.Before(sent) {
				t.Fatalf("Expected: b's second frame stamped at or after it was sent (%s)\nActual:   %s before", sent.Format(time.StampMicro), sent.Sub(at))
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("b's second frame never came")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A poller never waits on a socket's write: a close from a server that has stopped reading,
// while a sender of that connection is blocked in its write, is echoed off the poller, and the
// other connections of the poller are read meanwhile.
func TestPollerEchoesACloseWithoutWaiting(t *testing.T) {
	silentURL, silent := silentServer(t) // a's server never reads
	wa, err := dialWire(context.Background(), silentURL, "", func([]byte, *envelope, time.Time) {})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wa.stop)
	t.Cleanup(func() { wa.end(errClosed) }) // first: the blocked sender's write fails at once
	if wa.sock.Load() == nil {
		t.Skip("no poller on this system")
	}
	sa := <-silent
	url, conns := pollServer(t)
	got := make(chan time.Time, 1)
	_, sb := dialOnPoller(t, url, conns, func([]byte, *envelope, time.Time) { got <- time.Now() })

	// a's sender writes until its write blocks on the full socket, holding a's write lock.
	go func() {
		big := make([]byte, 1<<20)
		for range 256 {
			if wa.send(big) != nil {
				return
			}
		}
	}()
	time.Sleep(500 * time.Millisecond)
	if err := sa.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4001, "bye"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the poller has a's close
	sent := time.Now()
	if err := sb.WriteMessage(websocket.TextMessage, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-got:
		if d := at.Sub(sent); d > time.Second {
			t.Fatalf("Expected: b read at once\nActual:   after %s", d)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Expected: b read at once\nActual:   not within 3 s: the poller waits on a's write")
	}
}

// A connection taken off its poller twice (when the server's close comes, then when it ends)
// leaves alone the slot another connection has taken since.
func TestPollerSlotOfAnotherIsNotFreedTwice(t *testing.T) {
	p := &poller{}
	a, b := &wire{}, &wire{}
	id := p.add(a)
	p.remove(id, a)
	if p.add(b) != id {
		t.Fatal("Expected: the free slot reused")
	}
	p.remove(id, a) // a again
	if p.wire(id) != b {
		t.Fatalf("Expected: the slot still b's\nActual:   %p", p.wire(id))
	}
	if p.add(a) == id {
		t.Fatal("Expected: a new slot, the old one is b's")
	}
}
