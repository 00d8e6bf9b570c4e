package relay

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"mpcrelay/relay/protocol"
)

// countingConn records the writes and write deadlines that reach the kernel socket.
type countingConn struct {
	net.Conn
	mu        sync.Mutex
	writes    [][]byte
	deadlines int
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes = append(c.writes, append([]byte(nil), p...))
	return len(p), nil
}

func (c *countingConn) SetWriteDeadline(time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadlines++
	return nil
}

// The frames of a batch reach the kernel in one write, with one deadline; outside a batch a
// write goes straight through.
func TestSocketBatchIsOneWrite(t *testing.T) {
	under := &countingConn{}
	s := &socket{Conn: under}
	s.beginBatch()
	for _, p := range []string{"one", "two", "three"} {
		_ = s.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := s.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if len(under.writes) != 0 {
		t.Fatalf("Expected: nothing written before the batch ends / Actual: %q", under.writes)
	}
	if err := s.endBatch(); err != nil {
		t.Fatal(err)
	}
	if len(under.writes) != 1 || string(under.writes[0]) != "onetwothree" || under.deadlines != 1 {
		t.Fatalf("Expected: one write \"onetwothree\" with one deadline / Actual: %q, %d deadlines", under.writes, under.deadlines)
	}
	if _, err := s.Write([]byte("pong")); err != nil || len(under.writes) != 2 {
		t.Fatalf("Expected: a write outside a batch goes through / Actual: %q (%v)", under.writes, err)
	}
	// A frame larger than the batch buffer goes directly, after what was buffered.
	s.beginBatch()
	big := make([]byte, batchBufferSize+1)
	_, _ = s.Write([]byte("head"))
	_, _ = s.Write(big)
	_ = s.endBatch()
	if len(under.writes) != 4 || string(under.writes[2]) != "head" || len(under.writes[3]) != len(big) {
		t.Fatalf("Expected: \"head\" then the large frame / Actual: %d writes", len(under.writes))
	}
}

// An idle connection keeps no writer goroutine and no queue: the writer ends once it has
// written what was queued.
func TestIdleConnectionHasNoWriter(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	inst, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Shutdown(context.Background())
	ws, _, err := websocket.DefaultDialer.Dial(inst.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	frame, _ := protocol.NewRequest(1, protocol.MethodGroupCreate, protocol.GroupCreateParams{Label: "idle", Params: protocol.Parameters{Parties: 2, Threshold: 1}})
	if err := ws.WriteMessage(websocket.TextMessage, frame); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ws.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	s := inst.Server()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		s.connsMu.Lock()
		var writing, queued bool
		for c := range s.conns {
			c.qmu.Lock()
			writing, queued = c.writing, c.queue != nil
			c.qmu.Unlock()
		}
		n := len(s.conns)
		s.connsMu.Unlock()
		if n == 1 && !writing && !queued {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Expected: no writer and no queue once the response is written / Actual: conns %d, writing %v, queue %v", n, writing, queued)
		}
	}
}
