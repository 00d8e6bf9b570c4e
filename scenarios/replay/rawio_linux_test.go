package replay

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gorilla/websocket"
)

// textFrame is payload as one sealed client text frame.
func textFrame(payload []byte) []byte {
	return sealFrame(append(beginFrame(nil), payload...), ws.OpText)
}

// slowReader is a WebSocket server that reads nothing until start is closed (or sent to), then
// passes every message it reads to got; dial gives a wire to it.
func slowReader(t *testing.T) (w *wire, got chan []byte, start chan struct{}) {
	got, start = make(chan []byte, 1024), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		c, err := (&websocket.Upgrader{}).Upgrade(rw, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		c.SetReadLimit(16 << 20)
		<-start // not reading yet: the client's writes fill its buffers
		for {
			_, m, err := c.ReadMessage()
			if err != nil {
				return
			}
			got <- m
		}
	}))
	t.Cleanup(srv.Close)
	w, err := dialWire(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), "", func([]byte, *envelope, time.Time) {})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.stop)
	if w.sock.Load() == nil {
		t.Skip("no poller on this system")
	}
	return w, got, start
}

// Batches far larger than the socket's send buffer go out whole and in order: the raw writes
// resume a partly written frame where the kernel stopped and wait (EAGAIN) until it takes more.
func TestRawWritesResumeAcrossAFullSocketBuffer(t *testing.T) {
	w, got, start := slowReader(t)
	_ = w.sock.Load().control(func(fd int) error { return syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096) })

	var want [][]byte
	payload := func(i, size int) []byte {
		p := bytes.Repeat([]byte{byte('a' + i%26)}, size)
		copy(p, fmt.Sprintf("%d:", i))
		want = append(want, p)
		return p
	}
	sent := make(chan error, 1)
	go func() {
		defer close(sent)
		for b := range 20 {
			var frames [][]byte
			for j := range 1 + b%5 { // one frame (write) or several (writev), some large
				frames = append(frames, textFrame(payload(len(want), 1+(b*7919+j*104729)%300_000)))
			}
			if err := w.write(frames...); err != nil {
				sent <- err
				return
			}
		}
	}()
	time.Sleep(100 * time.Millisecond)
	close(start)
	if err := <-sent; err != nil {
		t.Fatalf("Expected: every batch written\nActual:   %v", err)
	}
	for i, p := range want {
		select {
		case m := <-got:
			if !bytes.Equal(m, p) {
				t.Fatalf("Expected: message %d (%d bytes) as written\nActual:   %d bytes starting %.12q", i, len(p), len(m), m)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Expected: message %d of %d\nActual:   nothing for 10 s", i, len(want))
		}
	}
}

// A peer that never reads does not hang a writer: a raw write waiting for room gives up at the
// write deadline.
func TestRawWriteGivesUpAtTheDeadline(t *testing.T) {
	url, conns := pollServer(t)
	w, err := dialWire(context.Background(), url, "", func([]byte, *envelope, time.Time) {})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.stop)
	if w.sock.Load() == nil {
		t.Skip("no poller on this system")
	}
	<-conns // pollServer's reads are stuck behind nothing, but its buffer is finite
	w.wmu.Lock()
	w.deadlineAt = time.Now()
	w.setWriteDeadline(time.Now().Add(300 * time.Millisecond))
	w.wmu.Unlock()
	big := textFrame(bytes.Repeat([]byte("x"), 8<<20))
	began := time.Now()
	done := make(chan error, 1)
	go func() {
		var err error
		for err == nil && time.Since(began) < 10*time.Second {
			err = w.write(big, big)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "timeout") {
			t.Fatalf("Expected: a write timeout\nActual:   %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Expected: the write to give up at its deadline\nActual:   still waiting after 10 s")
	}
}

// Ending a connection ends a write that waits for room at once, not at its deadline: the
// socket is shut down before it is closed, which wakes the wait.
func TestEndingAConnectionEndsAWriteWaitingForRoom(t *testing.T) {
	url, _ := silentServer(t) // the client's writes fill both sockets' buffers
	w, err := dialWire(context.Background(), url, "", func([]byte, *envelope, time.Time) {})
	if err != nil {
		t.Fatal(err)
	}
	if w.sock.Load() == nil {
		t.Skip("no poller on this system")
	}
	big := textFrame(bytes.Repeat([]byte("x"), 8<<20))
	done := make(chan error, 1)
	go func() {
		var err error
		for err == nil {
			err = w.write(big) // the deadline is writeWait (10 s) away
		}
		done <- err
	}()
	time.Sleep(500 * time.Millisecond) // the server reads nothing: the writer is waiting by now
	ended := time.Now()
	w.end(errClosed)
	select {
	case err := <-done:
		if took := time.Since(ended); took > 2*time.Second {
			t.Fatalf("Expected: the write to end when the connection did\nActual:   %v later (%v)", took, err)
		}
	case <-time.After(8 * time.Second):
		t.Fatal("Expected: the write to end when the connection did\nActual:   still waiting after 8 s")
	}
}

// A write that must not wait (a poller's) begins only when no other write holds the
// connection; when the socket takes only part, it keeps the write lock and says where it
// stopped, and finishing it elsewhere puts every frame on the wire whole and in order.
func TestTryWriteStopsWhereTheSocketIsFullAndFinishWriteCompletesIt(t *testing.T) {
	w, got, start := slowReader(t)
	w.wmu.Lock()
	if ok, _ := w.tryWrite([][]byte{textFrame([]byte("x"))}, &writePos{}); ok {
		t.Fatal("Expected: no write begun while another holds the connection\nActual:   begun")
	}
	w.wmu.Unlock()

	var frames [][]byte
	var want [][]byte
	for i := range 8 {
		p := bytes.Repeat([]byte{byte('a' + i)}, 1<<20)
		want = append(want, p)
		frames = append(frames, textFrame(p))
	}
	var at writePos
	ok, err := w.tryWrite(frames, &at)
	if !ok || err != errWouldBlock || at == (writePos{}) {
		t.Fatalf("Expected: 8 MiB taken in part, the rest left (errWouldBlock)\nActual:   ok %v, %v, at %+v", ok, err, at)
	}
	if w.wmu.TryLock() {
		t.Fatal("Expected: the write lock kept for the rest\nActual:   free")
	}
	done := make(chan error, 1)
	go func() { done <- w.finishWrite(frames, &at) }()
	close(start)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i, p := range want {
		select {
		case m := <-got:
			if !bytes.Equal(m, p) {
				t.Fatalf("Expected: frame %d whole\nActual:   %d bytes starting %.8q", i, len(m), m)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Expected: frame %d\nActual:   nothing", i)
		}
	}
	if !w.wmu.TryLock() {
		t.Fatal("Expected: the write lock released once finished\nActual:   held")
	}
	w.wmu.Unlock()
}
