package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/gobwas/ws"
)

// frameConn is a WebSocket connection written and read frame by frame (gobwas/ws, which writes
// any frame RFC 6455 allows), for what the SDK cannot do: a message in fragments, a control frame
// between them, a ping of the case's own, a connection cut without a close frame.
type frameConn struct {
	t    *T
	Name string
	conn net.Conn
	r    io.Reader
}

// DialFrames opens a frame-level connection to the target (on a cluster, the next node).
func (t *T) DialFrames(name string) *frameConn {
	ctx, cancel := context.WithTimeout(t.ctx, t.cfg.Timeout+5*time.Second)
	defer cancel()
	url, name := t.nextNode(name)
	conn, br, _, err := ws.Dialer{}.Dial(ctx, url)
	if err != nil {
		t.HarnessError("dial %s: %v", url, err)
	}
	c := &frameConn{t: t, Name: name, conn: conn, r: conn}
	if br != nil { // the relay wrote before the handshake was read to its end
		c.r = io.MultiReader(br, conn)
	}
	t.cleanup(func() { _ = conn.Close() })
	return c
}

// Write writes one frame (masked, as a client must); a failure fails the case.
func (c *frameConn) Write(op ws.OpCode, fin bool, payload []byte) {
	f := ws.MaskFrameInPlace(ws.NewFrame(op, fin, bytes.Clone(payload)))
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.t.cfg.Timeout))
	if op == ws.OpText || op == ws.OpContinuation {
		c.t.tr.note("%s → %s frame (fin %v): %s", c.Name, opName(op), fin, short(json.RawMessage(payload)))
	} else {
		c.t.tr.note("%s → %s frame: %q", c.Name, opName(op), payload)
	}
	if err := ws.WriteFrame(c.conn, f); err != nil {
		c.t.Failf(fmt.Sprintf("the relay reads a %s frame from %s", opName(op), c.Name), "write failed: %v", err)
	}
}

// Next reads the next frame within d (ok false when none came or the connection ended; err
// tells which).
func (c *frameConn) Next(d time.Duration) (f ws.Frame, err error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	f, err = ws.ReadFrame(c.r)
	if err != nil {
		return f, err
	}
	if f.Header.Masked {
		ws.Cipher(f.Payload, f.Header.Mask, 0)
	}
	c.t.tr.note("%s ← %s frame (fin %v): %s", c.Name, opName(f.Header.OpCode), f.Header.Fin, short(json.RawMessage(f.Payload)))
	return f, nil
}

// Await reads frames until one matches want, failing the case (what) when none does within the
// timeout or the connection ends first.
func (c *frameConn) Await(what string, want func(ws.Frame) bool) ws.Frame {
	deadline := time.Now().Add(c.t.cfg.Timeout)
	var seen []string
	for {
		left := time.Until(deadline)
		if left <= 0 {
			c.t.Failf(what+" within "+c.t.cfg.Timeout.String(), "frames seen: %v", seen)
		}
		f, err := c.Next(left)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.t.Failf(what+" within "+c.t.cfg.Timeout.String(), "frames seen: %v", seen)
			}
			c.t.Failf(what, "the connection ended (%v); frames seen: %v", err, seen)
		}
		if want(f) {
			return f
		}
		seen = append(seen, fmt.Sprintf("%s %s", opName(f.Header.OpCode), short(json.RawMessage(f.Payload))))
	}
}

// Cut closes the TCP connection without a close frame (a phone losing signal, a killed tab).
func (c *frameConn) Cut() {
	c.t.tr.note("%s: TCP connection cut (no close frame)", c.Name)
	_ = c.conn.Close()
}

func opName(op ws.OpCode) string {
	switch op {
	case ws.OpContinuation:
		return "continuation"
	case ws.OpText:
		return "text"
	case ws.OpBinary:
		return "binary"
	case ws.OpClose:
		return "close"
	case ws.OpPing:
		return "ping"
	case ws.OpPong:
		return "pong"
	}
	return fmt.Sprintf("opcode %d", op)
}

// isResponse matches a text frame answering the request with id.
func isResponse(id uint64) func(ws.Frame) bool {
	return func(f ws.Frame) bool {
		return f.Header.OpCode == ws.OpText && bytes.Contains(f.Payload, []byte(fmt.Sprintf(`"id":%d`, id)))
	}
}
