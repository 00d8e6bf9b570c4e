package replay

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gorilla/websocket"
)

// A wire read by the poller against a gorilla server: a fragmented message comes out whole, a
// ping is answered with a pong, a call gets its response, and a close from the server ends the
// connection with its reason after the close is echoed.
func TestWireAgainstGorillaServer(t *testing.T) {
	big := `{"jsonrpc":"2.0","id":0,"result":["note","` + strings.Repeat("b", 5000) + `"]}`
	pong := make(chan string, 1)
	echoed := make(chan int, 1)
	up := websocket.Upgrader{WriteBufferSize: 1024} // 5 KB goes out in fragments of 1 KB
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(rw, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		c.SetPongHandler(func(s string) error { pong <- s; return nil })
		c.SetCloseHandler(func(code int, _ string) error { echoed <- code; return nil })
		_, req, err := c.ReadMessage() // the call
		if err != nil || !strings.Contains(string(req), `"method":"Ping.me"`) {
			t.Errorf("Expected: the call\nActual:   %s %v", req, err)
			return
		}
		w, _ := c.NextWriter(websocket.TextMessage)
		_, _ = w.Write([]byte(big))
		_ = w.Close()
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":1,"result":"ok"}`))
		_ = c.WriteControl(websocket.PingMessage, []byte("hi"), time.Now().Add(time.Second))
		if _, _, err := c.ReadMessage(); err != nil { // reads the pong, then waits
			_ = err
		}
	}))
	defer srv.Close()

	var mu sync.Mutex
	var frames []string
	w, err := dialWire(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), "", func(f []byte, e *envelope, _ time.Time) {
		mu.Lock()
		frames = append(frames, string(f))
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := w.callRaw(context.Background(), "Ping.me", []byte("[]"))
	if err != nil || string(res) != `"ok"` {
		t.Fatalf("Expected: \"ok\"\nActual:   %s %v", res, err)
	}
	select {
	case s := <-pong:
		if s != "hi" {
			t.Errorf("Expected: pong \"hi\"\nActual:   %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no pong")
	}
	mu.Lock()
	if len(frames) != 1 || frames[0] != big {
		t.Errorf("Expected: the fragmented message whole\nActual:   %d frames", len(frames))
	}
	mu.Unlock()
	w.stop()
	select {
	case code := <-echoed:
		if code != websocket.CloseNormalClosure {
			t.Errorf("Expected: close 1000\nActual:   %d", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the server saw no close")
	}
	<-w.ended
}

// A close from the server ends the wire with the server's reason; calls waiting get it.
func TestWireEndsOnServerClose(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		c, err := (&websocket.Upgrader{}).Upgrade(rw, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		_, _, _ = c.ReadMessage()
		_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "bye"), time.Now().Add(time.Second))
		_, _, _ = c.ReadMessage() // the echo
	}))
	defer srv.Close()
	w, err := dialWire(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), "", func([]byte, *envelope, time.Time) {})
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.callRaw(context.Background(), "Never.answered", []byte("[]"))
	if err == nil || !strings.Contains(err.Error(), "1001 bye") {
		t.Fatalf("Expected: the call fails with the server's close\nActual:   %v", err)
	}
	select {
	case <-w.ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the wire did not end")
	}
}

// wss:// works: a TLS connection is read by a goroutine of its own (readLoop), not the poller.
func TestWireOverTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		c, err := (&websocket.Upgrader{}).Upgrade(rw, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			_, req, err := c.ReadMessage()
			if err != nil {
				return
			}
			_ = c.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":1,"result":`+strings.Repeat(" ", 100000)+`"tls"}`))
			_ = req
		}
	}))
	defer srv.Close()
	saved := dialer.TLSConfig
	dialer.TLSConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
	defer func() { dialer.TLSConfig = saved }()
	w, err := dialWire(context.Background(), "wss"+strings.TrimPrefix(srv.URL, "https"), "", func([]byte, *envelope, time.Time) {})
	if err != nil {
		t.Fatal(err)
	}
	defer w.stop()
	if w.sock.Load() != nil {
		t.Fatal("Expected: a TLS wire read by its own goroutine\nActual:   on the poller")
	}
	res, err := w.callRaw(context.Background(), "Any", []byte("[]"))
	if err != nil || strings.TrimSpace(string(res)) != `"tls"` {
		t.Fatalf("Expected: \"tls\"\nActual:   %.40s %v", res, err)
	}
}

// Once stop has returned, the connection's frames are no longer handled, even when its peer
// never answered the close and the reader was taking apart a batch of frames meanwhile: the
// run reads what the handlers wrote (counts, per-second throughput) right after closing.
func TestWireStopWaitsForTheFramesBeingHandled(t *testing.T) {
	for _, tls := range []bool{false, true} {
		name := map[bool]string{false: "poller", true: "tls"}[tls]
		t.Run(name, func(t *testing.T) {
			done := make(chan struct{})
			handler := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
				c, err := (&websocket.Upgrader{}).Upgrade(rw, r, nil)
				if err != nil {
					return
				}
				defer c.Close()
				// Once the client is read by its poller or goroutine (it writes first): three text
				// frames in one write, so that one read brings them all; then silence (the
				// client's close is never answered).
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
				var raw []byte
				for i := range 3 {
					raw = append(raw, 0x81, 7)
					raw = append(raw, fmt.Sprintf(`{"n":%d}`, i)...)
				}
				_, _ = c.NetConn().Write(raw)
				<-done
			})
			var srv *httptest.Server
			scheme := "ws"
			if tls {
				srv = httptest.NewTLSServer(handler)
				saved := dialer.TLSConfig
				dialer.TLSConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
				t.Cleanup(func() { dialer.TLSConfig = saved })
				scheme = "wss"
			} else {
				srv = httptest.NewServer(handler)
			}
			t.Cleanup(func() { close(done); srv.Close() })
			var stopped atomic.Bool
			var after atomic.Int32
			first := make(chan struct{})
			var once sync.Once
			w, err := dialWire(context.Background(), scheme+strings.TrimPrefix(srv.URL, map[bool]string{false: "http", true: "https"}[tls]), "", func([]byte, *envelope, time.Time) {
				if stopped.Load() {
					after.Add(1)
				}
				once.Do(func() {
					close(first)
					time.Sleep(closeGrace + 500*time.Millisecond) // a reader busy past stop's wait
				})
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := w.send([]byte("{}")); err != nil {
				t.Fatal(err)
			}
			<-first
			w.stop()
			stopped.Store(true)
			time.Sleep(closeGrace) // what a reader still busy with the batch would do now
			if n := after.Load(); n > 0 {
				t.Fatalf("Expected: no frame handled once stop returned\nActual:   %d", n)
			}
		})
	}
}

// silentServer is a WebSocket server that never reads, nor answers a close, until the test
// ends; conns gets each connection as it is upgraded.
func silentServer(t *testing.T) (url string, conns chan *websocket.Conn) {
	conns = make(chan *websocket.Conn, 16)
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		c, err := (&websocket.Upgrader{}).Upgrade(rw, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		conns <- c
		<-done
	}))
	t.Cleanup(func() { close(done); srv.Close() })
	return "ws" + strings.TrimPrefix(srv.URL, "http"), conns
}

// A group's connections are closed at once: against a relay that answers no close, the group
// waits one closeGrace, not one per party (the run's bound allows for one).
func TestGroupClosesItsConnectionsAtOnce(t *testing.T) {
	url, _ := silentServer(t) // the client's close is not answered
	g := &group{}
	for range 4 {
		w, err := dialWire(context.Background(), url, "", func([]byte, *envelope, time.Time) {})
		if err != nil {
			t.Fatal(err)
		}
		g.peers = append(g.peers, &peer{g: g, w: w})
	}
	start := time.Now()
	g.close()
	if took := time.Since(start); took > 2*closeGrace {
		t.Errorf("Expected: 4 connections closed within %s\nActual:   %s", 2*closeGrace, took)
	}
	for i, pc := range g.peers {
		if !pc.w.closed() {
			t.Errorf("Expected: connection %d closed\nActual:   open", i)
		}
	}
}

// rawFrameServer serves WebSocket connections that, once the client's first message is in,
// get raw bytes from write (frames the test puts together itself), then only read (the client's
// close is answered, and the socket closed). It returns the URL for the poller (tls false) or a
// TLS connection's goroutine.
func rawFrameServer(t *testing.T, tls bool, write func(nc net.Conn)) string {
	t.Helper()
	handler := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		c, err := (&websocket.Upgrader{}).Upgrade(rw, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		if _, _, err := c.ReadMessage(); err != nil { // the client is being read
			return
		}
		write(c.NetConn())
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	})
	var srv *httptest.Server
	scheme, prefix := "ws", "http"
	if tls {
		srv = httptest.NewTLSServer(handler)
		saved := dialer.TLSConfig
		dialer.TLSConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
		t.Cleanup(func() { dialer.TLSConfig = saved })
		scheme, prefix = "wss", "https"
	} else {
		srv = httptest.NewServer(handler)
	}
	t.Cleanup(srv.Close)
	return scheme + strings.TrimPrefix(srv.URL, prefix)
}

// dialRaw dials url and sends a first message, after which rawFrameServer writes.
func dialRaw(t *testing.T, url string, onFrame func([]byte, *envelope, time.Time)) *wire {
	t.Helper()
	w, err := dialWire(context.Background(), url, "", onFrame)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.stop)
	if err := w.send([]byte("{}")); err != nil {
		t.Fatal(err)
	}
	return w
}

var readers = map[bool]string{false: "poller", true: "tls"}

// A frame larger than the reader's own buffer (the poller's 256 KiB, a TLS connection's 64 KiB)
// is read into a buffer of its own, and one read may bring more bytes than the reader's buffer
// holds: the frame comes out whole (such a read once sliced the reader's buffer past its end).
func TestWireReadsAFrameLargerThanItsReadBuffer(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 5<<20/16)
	payload[len(payload)-1] = '!'
	for _, tls := range []bool{false, true} {
		t.Run(readers[tls], func(t *testing.T) {
			url := rawFrameServer(t, tls, func(nc net.Conn) {
				// In pieces of 100 KiB, so that the frame's buffer is read into several times.
				_ = ws.WriteHeader(nc, ws.Header{Fin: true, OpCode: ws.OpText, Length: int64(len(payload))})
				for p := payload; len(p) > 0; p = p[min(len(p), 100<<10):] {
					if _, err := nc.Write(p[:min(len(p), 100<<10)]); err != nil {
						return
					}
					time.Sleep(time.Millisecond)
				}
			})
			whole := make(chan bool, 1)
			dialRaw(t, url, func(f []byte, _ *envelope, _ time.Time) { whole <- bytes.Equal(f, payload) })
			select {
			case ok := <-whole:
				if !ok {
					t.Fatal("Expected: the 5 MiB frame whole\nActual:   different bytes")
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Expected: the 5 MiB frame\nActual:   none within 10 s")
			}
		})
	}
}

// A relay that sends only the header of a frame declaring 64 MiB (readLimit) and a few bytes
// makes the wire hold a buffer for the bytes that came, not 64 MiB (900 such connections were
// 57 GiB).
func TestWireHoldsWhatArrivedNotWhatIsDeclared(t *testing.T) {
	for _, tls := range []bool{false, true} {
		t.Run(readers[tls], func(t *testing.T) {
			url := rawFrameServer(t, tls, func(nc net.Conn) {
				_ = ws.WriteHeader(nc, ws.Header{Fin: true, OpCode: ws.OpText, Length: readLimit})
				_, _ = nc.Write(make([]byte, 1000))
			})
			w := dialRaw(t, url, func([]byte, *envelope, time.Time) {})
			deadline := time.Now().Add(5 * time.Second)
			for {
				w.readMu.Lock()
				held, c := 0, 0
				if w.in.part != nil {
					held, c = len(*w.in.part), cap(*w.in.part)
				}
				w.readMu.Unlock()
				if held == 10+1000 { // a 64-bit length header, then the bytes sent
					if c > partBufSize {
						t.Fatalf("a header declaring %d bytes, then 1000\nExpected: a buffer of at most %d bytes held\nActual:   %d", readLimit, partBufSize, c)
					}
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("Expected: the header and 1000 bytes held\nActual:   %d bytes", held)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}

// A server that sends a frame and closes its socket with no close frame (a relay that crashed
// or hard-closed) ends the wire at once with EOF: with the poller, the FIN that came with the
// frame's bytes brings no new edge of its own, and the wire once waited for stop's grace or a
// session's timeout.
func TestWireEndsWhenTheServerClosesItsSocket(t *testing.T) {
	for _, tls := range []bool{false, true} {
		t.Run(readers[tls], func(t *testing.T) {
			url := rawFrameServer(t, tls, func(nc net.Conn) {
				_, _ = nc.Write([]byte("\x81\x02{}")) // a text frame "{}" (§5.2)
				_ = nc.Close()
			})
			w := dialRaw(t, url, func([]byte, *envelope, time.Time) {})
			select {
			case <-w.ended:
				if w.err != errEOF {
					t.Fatalf("Expected: %v\nActual:   %v", errEOF, w.err)
				}
			case <-time.After(3 * time.Second):
				t.Fatal("Expected: the wire ended with EOF\nActual:   still open 3 s after the server closed its socket")
			}
		})
	}
}
