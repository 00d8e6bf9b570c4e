package conformance

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"mpcrelay/client"
	"mpcrelay/relay/protocol"
)

// Shared verifiers (h2spec's VerifyConnectionError and friends): each checks one thing and ends
// the case with Expected / Actual when it does not hold.

// Raw sends a request and returns its response, error responses included. params is marshalled
// (a json.RawMessage goes verbatim; nil omits "params"). No response within the timeout, or the
// connection ending, fails the case.
func (c *Conn) Raw(method string, params any) client.Response {
	var raw json.RawMessage
	if params != nil {
		if r, ok := params.(json.RawMessage); ok {
			raw = r
		} else {
			b, err := json.Marshal(params)
			if err != nil {
				c.t.HarnessError("encode params of %s: %v", method, err)
			}
			raw = b
		}
	}
	ctx, cancel := c.t.ctxTimeout()
	defer cancel()
	since := time.Now()
	resp, err := c.CallRaw(ctx, method, raw)
	if err != nil && c.t.ctx.Err() != nil {
		c.t.ended(fmt.Sprintf("a response to %s on %s", method, c.Name), since)
	}
	if err != nil {
		c.t.Failf(fmt.Sprintf("a response to %s on %s within %s", method, c.Name, c.t.cfg.Timeout), "%v (connection %s)", err, c.closedErr())
	}
	return resp
}

// OK sends a request, expects a success response and decodes its result into out (when not nil).
func (c *Conn) OK(method string, params any, out any) client.Response {
	resp := c.Raw(method, params)
	if resp.Error != nil {
		c.t.Failf(fmt.Sprintf("success response to %s %s on %s", method, short(params), c.Name), "error %s", resp.Error)
	}
	if out != nil {
		if err := json.Unmarshal(resp.Result, out); err != nil {
			c.t.Failf(fmt.Sprintf("result of %s decoding as %T", method, out), "%s (%v)", resp.Result, err)
		}
	}
	return resp
}

// ExpectError sends a request and expects an error response with code.
func (c *Conn) ExpectError(method string, params any, code int) *protocol.Error {
	resp := c.Raw(method, params)
	if resp.Error == nil {
		c.t.Failf(fmt.Sprintf("error %d in response to %s %s on %s", code, method, short(params), c.Name), "success %s", string(resp.Raw))
	}
	if resp.Error.Code != code {
		c.t.Failf(fmt.Sprintf("error code %d in response to %s %s", code, method, short(params)), "error code %d (%q)", resp.Error.Code, resp.Error.Message)
	}
	return resp.Error
}

func short(params any) string {
	b, ok := params.(json.RawMessage)
	if !ok {
		b, _ = json.Marshal(params)
	}
	s := string(b)
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// WaitEvent waits up to the timeout for an event named name ("" = any) concerning session
// (uuid.Nil = any) that no earlier verifier consumed, and consumes it.
func (c *Conn) WaitEvent(name string, session uuid.UUID) client.Event {
	since := time.Now()
	deadline := time.NewTimer(c.t.cfg.Timeout)
	defer deadline.Stop()
	for {
		if ev, ok := c.take(name, session); ok {
			return ev
		}
		select {
		case <-c.arrived:
		case <-deadline.C:
			c.t.Failf(fmt.Sprintf("event %s%s on %s within %s", eventName(name), forSession(session), c.Name, c.t.cfg.Timeout),
				"none (connection %s; unconsumed events: %s)", c.closedErr(), c.pendingSummary())
		case <-c.t.ctx.Done():
			c.t.ended(fmt.Sprintf("event %s%s on %s", eventName(name), forSession(session), c.Name), since)
		}
	}
}

func eventName(name string) string {
	if name == "" {
		return "(any)"
	}
	return name
}

func forSession(s uuid.UUID) string {
	if s == uuid.Nil {
		return ""
	}
	return " for session " + s.String()
}

func matches(ev client.Event, name string, session uuid.UUID) bool {
	if name != "" && ev.Name != name {
		return false
	}
	if session == uuid.Nil {
		return true
	}
	id, ok := ev.SessionID()
	return !ok || id == session // events that name no session (sessionClosed) match by name
}

func (c *Conn) take(name string, session uuid.UUID) (client.Event, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, ev := range c.events {
		if !c.taken[i] && matches(ev, name, session) {
			c.taken[i] = true
			return ev, true
		}
	}
	return client.Event{}, false
}

// Pending returns the unconsumed events matching name and session, without consuming them.
func (c *Conn) Pending(name string, session uuid.UUID) []client.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []client.Event
	for i, ev := range c.events {
		if !c.taken[i] && matches(ev, name, session) {
			out = append(out, ev)
		}
	}
	return out
}

func (c *Conn) pendingSummary() string {
	evs := c.Pending("", uuid.Nil)
	if len(evs) == 0 {
		return "none"
	}
	var names []string
	for _, ev := range evs {
		names = append(names, ev.Name)
	}
	return strings.Join(names, ", ")
}

// Quiet waits the quiet window: the bounded time a negative check gives the relay to misbehave.
func (t *T) Quiet() {
	since := time.Now()
	select {
	case <-time.After(t.cfg.QuietWindow):
	case <-t.ctx.Done():
		t.ended(fmt.Sprintf("the quiet window (%s) to pass", t.cfg.QuietWindow), since)
	}
}

// ExpectNoEvent waits the quiet window once and then checks that none of conns received an
// unconsumed event named name ("" = any) concerning session.
func (t *T) ExpectNoEvent(name string, session uuid.UUID, conns ...*Conn) {
	t.Quiet()
	t.CheckNoEvent(name, session, conns...)
}

// CheckNoEvent is ExpectNoEvent without the wait (after a wait the case already did).
func (t *T) CheckNoEvent(name string, session uuid.UUID, conns ...*Conn) {
	for _, c := range conns {
		if evs := c.Pending(name, session); len(evs) > 0 {
			t.Failf(fmt.Sprintf("no %s event%s on %s (quiet window %s)", eventName(name), forSession(session), c.Name, t.cfg.QuietWindow),
				"%d arrived, first: %s", len(evs), evs[0].Raw)
		}
	}
}

// ExpectClosed waits up to the timeout for the relay to close the connection.
func (c *Conn) ExpectClosed() {
	since := time.Now()
	select {
	case <-c.Done():
	case <-time.After(c.t.cfg.Timeout):
		c.t.Failf(fmt.Sprintf("the relay closes %s within %s", c.Name, c.t.cfg.Timeout), "the connection is still open")
	case <-c.t.ctx.Done():
		c.t.ended(fmt.Sprintf("the relay to close %s", c.Name), since)
	}
}

// ExpectUsable checks the connection still answers requests: an unknown method must get an
// answer (any error) within the timeout.
func (c *Conn) ExpectUsable() {
	if c.isClosed() {
		c.t.Failf(fmt.Sprintf("%s stays open and usable", c.Name), "connection %s", c.closedErr())
	}
	ctx, cancel := c.t.ctxTimeout()
	defer cancel()
	resp, err := c.CallRaw(ctx, "Conformance.ping", json.RawMessage(`[]`))
	if err != nil {
		c.t.Failf(fmt.Sprintf("%s stays usable: a request gets an answer within %s", c.Name, c.t.cfg.Timeout), "%v (connection %s)", err, c.closedErr())
	}
	if resp.Error == nil || resp.Error.Code != protocol.CodeMethodNotFound {
		c.t.Failf("error -32601 for the unknown method Conformance.ping", "%s", resp.Raw)
	}
}

// ReceivedIndex returns the position, among the frames c received, of the first frame for which
// pred holds, or -1.
func (c *Conn) ReceivedIndex(pred func(in protocol.Incoming) bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, f := range c.frames {
		if f.Binary {
			continue
		}
		in, err := protocol.DecodeIncoming(f.Data)
		if err == nil && pred(in) {
			return i
		}
	}
	return -1
}

// Received returns a copy of the frames c received so far.
func (c *Conn) Received() []client.Frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]client.Frame(nil), c.frames...)
}

// WaitUnmatched waits up to d for a frame that answers no pending call (the answer to a frame
// sent with Send, an error without id).
func (c *Conn) WaitUnmatched(d time.Duration) (client.Frame, bool) {
	since := time.Now()
	select {
	case f, ok := <-c.Unmatched():
		return f, ok
	case <-time.After(d):
		return client.Frame{}, false
	case <-c.t.ctx.Done():
		c.t.ended(fmt.Sprintf("a frame answering no call on %s (up to %s)", c.Name, d), since)
	}
	return client.Frame{}, false
}

// SendRaw writes a text frame verbatim; a write failure fails the case (the relay closed).
func (c *Conn) SendRaw(frame []byte) {
	ctx, cancel := c.t.ctxTimeout()
	defer cancel()
	if err := c.Send(ctx, frame); err != nil {
		c.t.Failf(fmt.Sprintf("%s accepts a frame", c.Name), "write failed: %v (connection %s)", err, c.closedErr())
	}
}
