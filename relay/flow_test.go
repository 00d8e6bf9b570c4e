package relay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"mpcrelay/client"
	"mpcrelay/relay"
	"mpcrelay/relay/protocol"
)

func dialClient(t testing.TB, ctx context.Context, url string) *client.Client {
	t.Helper()
	c, err := client.Dial(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// §7: the keygen flow, then a 2-of-3 sign flow with a proposal and Notify.signed, through the
// project's client — the way every other tool of the project talks to the relay.
func TestSection7_TypicalFlows(t *testing.T) {
	modes(t, func(t *testing.T, compat bool) {
		inst := startRelay(t, compat)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cs := []*client.Client{dialClient(t, ctx, inst.URL()), dialClient(t, ctx, inst.URL()), dialClient(t, ctx, inst.URL())}
		subs := make([]*client.Subscription, len(cs))
		for i, c := range cs {
			subs[i] = c.Subscribe(client.Filter{})
		}
		next := func(i int, name string) client.Event {
			t.Helper()
			ev, err := subs[i].Next(ctx)
			if err != nil || ev.Name != name {
				t.Fatalf("party %d: Expected: %s / Actual: %s %s (%v)", i+1, name, ev.Name, ev.Payload, err)
			}
			return ev
		}
		g, err := cs[0].GroupCreate(ctx, "wallet", protocol.Parameters{Parties: 3, Threshold: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs[1:] {
			if _, err := c.GroupJoin(ctx, g); err != nil {
				t.Fatal(err)
			}
		}
		// Keygen: all three parties, one broadcast round and one peer-to-peer round.
		kg, err := cs[0].SessionCreate(ctx, g, protocol.KindKeygen, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i < 3; i++ {
			if s, err := next(i, protocol.EventSessionCreate).AsSession(); err != nil || s.UUID != kg.UUID {
				t.Fatalf("sessionCreate: %+v %v", s, err)
			}
		}
		for i, c := range cs {
			if n, err := c.SessionSignup(ctx, g, kg.UUID, protocol.KindKeygen); err != nil || n != uint16(i+1) {
				t.Fatalf("signup %d: %d %v", i+1, n, err)
			}
		}
		for i := range cs {
			next(i, protocol.EventSessionSignup)
		}
		for i, c := range cs {
			if err := c.SessionMessage(ctx, g, kg.UUID, protocol.KindKeygen, protocol.Message{Round: 1, Sender: uint16(i + 1), UUID: kg.UUID, Body: json.RawMessage(fmt.Sprint(i))}); err != nil {
				t.Fatal(err)
			}
		}
		for i := range cs {
			var senders []uint16
			for range 2 {
				m, err := next(i, protocol.EventSessionMessage).AsMessage()
				if err != nil {
					t.Fatal(err)
				}
				senders = append(senders, m.Sender)
			}
			if slices.Contains(senders, uint16(i+1)) {
				t.Fatalf("party %d got its own broadcast: %v", i+1, senders)
			}
		}
		for i, c := range cs {
			to := uint16((i+1)%3 + 1)
			if err := c.SessionMessage(ctx, g, kg.UUID, protocol.KindKeygen, protocol.Message{Round: 2, Sender: uint16(i + 1), Receiver: &to, UUID: kg.UUID}); err != nil {
				t.Fatal(err)
			}
		}
		for i := range cs {
			m, err := next(i, protocol.EventSessionMessage).AsMessage()
			if err != nil || *m.Receiver != uint16(i+1) {
				t.Fatalf("party %d: Expected: p2p to itself / Actual: %+v %v", i+1, m, err)
			}
		}
		for i, c := range cs {
			if err := c.SessionFinish(ctx, g, kg.UUID, uint16(i+1)); err != nil {
				t.Fatal(err)
			}
		}
		for i := range cs {
			if ps, err := next(i, protocol.EventSessionClosed).AsParties(); err != nil || !slices.Equal(ps, []uint16{1, 2, 3}) {
				t.Fatalf("sessionClosed: %v %v", ps, err)
			}
		}

		// Sign, 2 of 3: parties 1 and 3 load their keygen numbers.
		sg, err := cs[0].SessionCreate(ctx, g, protocol.KindSign, "tx")
		if err != nil {
			t.Fatal(err)
		}
		if err := cs[0].NotifyProposal(ctx, g, sg.UUID, "p1", "please sign tx"); err != nil {
			t.Fatal(err)
		}
		for i := 1; i < 3; i++ {
			if p, err := next(i, protocol.EventNotifyProposal).AsProposal(); err != nil || p.SessionID != sg.UUID.String() {
				t.Fatalf("proposal: %+v %v", p, err)
			}
		}
		if s, err := cs[2].SessionJoin(ctx, g, sg.UUID, protocol.KindSign); err != nil || string(s.Value) != `"tx"` {
			t.Fatalf("join: %+v %v", s, err)
		}
		for _, i := range []int{0, 2} {
			if _, err := cs[i].SessionLoad(ctx, g, sg.UUID, protocol.KindSign, uint16(i+1)); err != nil {
				t.Fatal(err)
			}
		}
		for _, i := range []int{0, 2} {
			next(i, protocol.EventSessionLoad)
		}
		if err := cs[0].NotifySigned(ctx, g, sg.UUID, map[string]string{"sig": "ok"}); err != nil {
			t.Fatal(err)
		}
		if ev := next(1, protocol.EventNotifySigned); string(ev.Payload) != `{"sig":"ok"}` {
			t.Fatalf("notifySigned: %s", ev.Payload)
		}
	})
}

// syncBuffer collects log output from the relay's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// §6.2: a client that stops reading is disconnected with a close code and a log line, while two
// others keep exchanging thousands of messages, in order and complete.
func TestSection6_2_StalledReaderIsDroppedOthersContinue(t *testing.T) {
	var logs syncBuffer
	inst := startRelay(t, false, func(c *relay.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		c.WriteWait = 2 * time.Second
		c.SendQueue = 64 // the policy under test, reached sooner than with the default 256
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, b := dialClient(t, ctx, inst.URL()), dialClient(t, ctx, inst.URL())
	// The stalled party: a raw connection with a tiny socket buffer that stops reading after setup.
	d := websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			_ = c.(*net.TCPConn).SetReadBuffer(4096)
		}
		return c, err
	}}
	ws, _, err := d.Dial(inst.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	stalled := &raw{t: t, ws: ws}

	g, err := a.GroupCreate(ctx, "g", protocol.Parameters{Parties: 3, Threshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.GroupJoin(ctx, g); err != nil {
		t.Fatal(err)
	}
	joinGroup(t, stalled, g)
	s, err := a.SessionCreate(ctx, g, protocol.KindSign, nil)
	if err != nil {
		t.Fatal(err)
	}
	var subs []*client.Subscription
	for _, c := range []*client.Client{a, b} {
		subs = append(subs, c.Subscribe(client.Filter{Names: []string{protocol.EventSessionMessage}}))
		if _, err := c.SessionSignup(ctx, g, s.UUID, protocol.KindSign); err != nil {
			t.Fatal(err)
		}
	}
	signup(t, stalled, g, s.UUID, protocol.KindSign) // from here on, stalled never reads

	// 2×1000 frames of 4 KiB to the stalled party: more than its queue and both kernel buffers.
	const n = 1000
	body := json.RawMessage(`"` + strings.Repeat("m", 4096) + `"`)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i, c := range []*client.Client{a, b} {
		wg.Add(2)
		go func() { // send n broadcasts
			defer wg.Done()
			for r := range n {
				if err := c.SessionMessage(ctx, g, s.UUID, protocol.KindSign, protocol.Message{Round: uint16(r), Sender: uint16(i + 1), UUID: s.UUID, Body: body}); err != nil {
					errs <- fmt.Errorf("party %d send %d: %w", i+1, r, err)
					return
				}
			}
		}()
		go func() { // receive the other's n broadcasts, in order
			defer wg.Done()
			for r := range n {
				ev, err := subs[i].Next(ctx)
				if err != nil {
					errs <- fmt.Errorf("party %d receive %d: %w", i+1, r, err)
					return
				}
				m, err := ev.AsMessage()
				if err != nil || m.Round != uint16(r) || m.Sender == uint16(i+1) {
					errs <- fmt.Errorf("party %d: Expected: round %d from the other / Actual: %+v %v", i+1, r, m, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitMetric(t, inst, "mpcrelay_slow_client_disconnects_total", 1)
	waitMetric(t, inst, "mpcrelay_connections", 2) // the relay let go of it
	if !strings.Contains(logs.String(), "dropping slow client") {
		t.Fatalf("Expected: a log line about the slow client / Actual logs:\n%s", logs.String())
	}
	// The stalled client, reading at last, finds its connection ended (with 1008 when the close
	// frame fitted in its socket, else reset).
	_ = ws.SetReadDeadline(time.Now().Add(testWait))
	for frames := 0; ; frames++ {
		if _, _, err := ws.ReadMessage(); err != nil {
			t.Logf("stalled client read %d frames, then %v", frames, err)
			if ce, ok := err.(*websocket.CloseError); ok && ce.Code != websocket.ClosePolicyViolation && ce.Code != websocket.CloseAbnormalClosure {
				t.Fatalf("Expected: close 1008 or a cut connection / Actual: %v", err)
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("Expected: the stalled connection is closed / Actual: still open")
			}
			break
		}
	}
	for _, c := range []*client.Client{a, b} {
		if _, err := c.SessionJoin(ctx, g, s.UUID, protocol.KindSign); err != nil {
			t.Fatalf("Expected: the others still connected / Actual: %v", err)
		}
	}
}
