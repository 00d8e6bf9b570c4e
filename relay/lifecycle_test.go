package relay_test

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"mpcrelay/relay"
	"mpcrelay/relay/protocol"
)

// metric reads one sample of the relay's /metrics (name with labels, as exposed).
func metric(t testing.TB, inst *relay.Instance, sample string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + inst.Addr() + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", sample, err)
			}
			return f
		}
	}
	t.Fatalf("metric %s not exposed", sample)
	return 0
}

// waitMetric polls /metrics until sample equals want.
func waitMetric(t testing.TB, inst *relay.Instance, sample string, want float64) {
	t.Helper()
	if got := pollMetric(t, inst, sample, want); got != want {
		t.Fatalf("%s: Expected: %v / Actual: %v", sample, want, got)
	}
}

// pollMetric polls /metrics until sample equals want, at most testWait, and returns the last
// value read. A counter may move just after what the test saw: a frame is counted once it is
// written (the client may read it first), an event message once it is published.
func pollMetric(t testing.TB, inst *relay.Instance, sample string, want float64) float64 {
	t.Helper()
	deadline := time.Now().Add(testWait)
	for {
		got := metric(t, inst, sample)
		if got == want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// §6.1: "a group left with no members is deleted (a later Group.join finds no group)".
func TestSection6_1_EmptyGroupIsDeleted(t *testing.T) {
	modes(t, func(t *testing.T, compat bool) {
		inst := startRelay(t, compat)
		a, b := dialRaw(t, inst.URL()), dialRaw(t, inst.URL())
		g := createGroup(t, a, 2, 1)
		a.ws.Close()
		waitMetric(t, inst, "mpcrelay_groups", 0)
		if e := b.fails(protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: g}, protocol.CodeInternal); e.Message != "group "+g.String()+" does not exist" {
			t.Fatalf("Expected: group gone / Actual: %q", e.Message)
		}
	})
}

// §6.1: a closed connection leaves every group, so its place is free again. Strict frees its
// party numbers too (MAY do better); COMPAT leaves them in the session, as the original.
func TestSection6_1_ClosedConnectionLeavesGroupsAndSessions(t *testing.T) {
	modes(t, func(t *testing.T, compat bool) {
		inst := startRelay(t, compat)
		g, s, rs := keygenReady(t, inst.URL(), 2, 1)
		rs[1].ws.Close()
		waitMetric(t, inst, "mpcrelay_connections", 1)
		// Events to the gone party are dropped, the sender is answered normally.
		rs[0].ok(protocol.MethodSessionMessage, broadcast(g, s, 1, `1`), nil)

		c := dialRaw(t, inst.URL())
		joinGroup(t, c, g) // not full any more
		in, data := c.call(protocol.MethodSessionLoad, protocol.SessionLoadParams{GroupID: g, SessionID: s, Kind: protocol.KindKeygen, Number: 2})
		if compat {
			if in.Error == nil || in.Error.Message != "party number already exists for session "+s.String() {
				t.Fatalf("Expected: COMPAT keeps number 2 taken / Actual: %s", data)
			}
			return
		}
		if in.Error != nil {
			t.Fatalf("Expected: strict frees number 2 for a reconnecting party / Actual: %s", data)
		}
		rs[0].ok(protocol.MethodSessionMessage, protocol.SessionMessageParams{GroupID: g, SessionID: s, Kind: protocol.KindKeygen,
			Message: protocol.Message{Round: 2, Sender: 1, Receiver: protocol.Receiver(2), UUID: s}}, nil)
		c.event(protocol.EventSessionLoad)
		c.event(protocol.EventSessionMessage)
	})
}

// §6.2: garbage, a frame over the limit and a party vanishing mid-session do not disturb the
// other connections.
func TestSection6_2_OtherConnectionsKeepWorking(t *testing.T) {
	modes(t, func(t *testing.T, compat bool) {
		inst := startRelay(t, compat, func(c *relay.Config) { c.MaxFrameBytes = relay.MinFrameBytes })
		g, s, rs := keygenReady(t, inst.URL(), 3, 1)

		rs[2].send("\x00\xff garbage {")
		rs[2].send(`{"jsonrpc":"2.0","id":1,"method":"Session.message","params":[` + strings.Repeat("[", 5000) + `]}`)
		if !compat {
			for range 2 {
				if in, data := rs[2].read(testWait); in.Error == nil || in.Error.Code != protocol.CodeParseError {
					t.Fatalf("Expected: -32700 / Actual: %s", data)
				}
			}
		}
		huge := dialRaw(t, inst.URL())
		// The relay may refuse the frame before it is all sent: the write can fail, and the
		// close frame (1009) can be lost to the reset of a socket with unread data.
		_ = huge.ws.WriteMessage(websocket.TextMessage, []byte(`"`+strings.Repeat("x", relay.MinFrameBytes)+`"`))
		_ = huge.ws.SetReadDeadline(time.Now().Add(testWait))
		_, _, err := huge.ws.ReadMessage()
		var ce *websocket.CloseError
		if ne, ok := err.(net.Error); ok && ne.Timeout() || errors.As(err, &ce) && ce.Code != websocket.CloseMessageTooBig {
			t.Fatalf("Expected: the connection closed (1009) for a frame over the limit / Actual: %v", err)
		}
		rs[1].ws.Close() // party 2 vanishes mid-session

		rs[0].ok(protocol.MethodSessionMessage, broadcast(g, s, 1, `"still here"`), nil)
		if ev := rs[2].event(protocol.EventSessionMessage); !strings.Contains(string(ev.Payload), "still here") {
			t.Fatalf("Expected: the broadcast / Actual: %s", ev.Payload)
		}
		// A frame just under the limit still goes through.
		body := `"` + strings.Repeat("y", relay.MinFrameBytes-400) + `"`
		rs[2].ok(protocol.MethodSessionMessage, protocol.SessionMessageParams{GroupID: g, SessionID: s, Kind: protocol.KindKeygen,
			Message: protocol.Message{Round: 2, Sender: 3, Receiver: protocol.Receiver(1), UUID: s, Body: []byte(body)}}, nil)
		rs[0].event(protocol.EventSessionMessage)
	})
}

// Limits: groups per connection and open sessions answer -32603 beyond the configured count.
func TestLimits(t *testing.T) {
	inst := startRelay(t, false, func(c *relay.Config) { c.MaxGroupsPerConn = 2; c.MaxSessions = 2 })
	a, b := dialRaw(t, inst.URL()), dialRaw(t, inst.URL())
	g1 := createGroup(t, a, 3, 1)
	createGroup(t, a, 3, 1)
	if e := a.fails(protocol.MethodGroupCreate, protocol.GroupCreateParams{Label: "x", Params: protocol.Parameters{Parties: 2, Threshold: 1}}, protocol.CodeInternal); !strings.Contains(e.Message, "limit") {
		t.Fatalf("Expected: the group limit / Actual: %q", e.Message)
	}
	bg := createGroup(t, b, 3, 1)
	a.fails(protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: bg}, protocol.CodeInternal)
	joinGroup(t, b, g1) // b is at 2 groups: allowed
	createSession(t, a, g1, protocol.KindSign, nil)
	createSession(t, b, bg, protocol.KindSign, nil)
	if e := a.fails(protocol.MethodSessionCreate, protocol.SessionCreateParams{GroupID: g1, Kind: protocol.KindSign}, protocol.CodeInternal); !strings.Contains(e.Message, "limit") {
		t.Fatalf("Expected: the session limit / Actual: %q", e.Message)
	}
	if got := metric(t, inst, `mpcrelay_errors_total{code="-32603"}`); got != 3 {
		t.Fatalf("errors_total{-32603}: Expected: 3 / Actual: %v", got)
	}
}

// Idle expiry: a session and a group nobody touches are deleted; touching keeps them.
func TestIdleExpiry(t *testing.T) {
	inst := startRelay(t, false, func(c *relay.Config) { c.IdleExpiry = time.Second })
	a := dialRaw(t, inst.URL())
	idle := createGroup(t, a, 2, 1)
	busy := createGroup(t, a, 2, 1)
	s := createSession(t, a, busy, protocol.KindSign, nil)
	stale := createSession(t, a, busy, protocol.KindSign, nil)
	for range 25 { // 2.5s: over twice the expiry, with the busy session touched all along
		time.Sleep(100 * time.Millisecond)
		a.ok(protocol.MethodSessionJoin, protocol.SessionParams{GroupID: busy, SessionID: s.UUID, Kind: protocol.KindSign}, nil)
	}
	a.fails(protocol.MethodSessionJoin, protocol.SessionParams{GroupID: busy, SessionID: stale.UUID, Kind: protocol.KindSign}, protocol.CodeInternal)
	b := dialRaw(t, inst.URL())
	if e := b.fails(protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: idle}, protocol.CodeInternal); e.Message != "group "+idle.String()+" does not exist" {
		t.Fatalf("Expected: the idle group expired / Actual: %q", e.Message)
	}
	joinGroup(t, b, busy)
	if got := metric(t, inst, `mpcrelay_expired_total{kind="group"}`); got != 1 {
		t.Fatalf("expired groups: Expected: 1 / Actual: %v", got)
	}
}
