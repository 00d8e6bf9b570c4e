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
	stalledReaderIsDropped(t, "send queue full", func(c *relay.Config) {
		// The queue's frame bound, which only the stalled party's queue can reach: the others,
		// who read, have a few frames queued, or a few hundred when the machine is loaded
		// (64 here dropped one of them now and then). The write wait comes too late to count,
		// and the relay lets go of the dropped client at once, not a write wait later.
		c.SendQueue = 1000
		c.WriteWait = time.Minute
	})
}

// §6.2: with the default bounds, far above what 2,000 frames need, a client that stops reading is
// dropped because writes to it make no progress for the write wait.
func TestSection6_2_StalledReaderIsDroppedAfterWriteWait(t *testing.T) {
	stalledReaderIsDropped(t, "write timed out", func(*relay.Config) {})
}

func stalledReaderIsDropped(t *testing.T, why string, tweak func(*relay.Config)) {
	var logs syncBuffer
	inst := startRelay(t, false, func(c *relay.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		c.WriteWait = 2 * time.Second
	}, tweak)
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

	// 2×1000 frames of 4 KiB to the stalled party: more than both kernel buffers hold, and than a
	// queue of 1000 frames.
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
	if !strings.Contains(logs.String(), "dropping slow client: "+why) {
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

// heldConn is a client socket whose writes can be held and then sent in one write: a sender
// that pipelines a whole round of requests, as the replay generator does (one writev per party).
type heldConn struct {
	net.Conn
	mu   sync.Mutex
	held []byte
	hold bool
}

func (h *heldConn) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.hold {
		h.held = append(h.held, p...)
		return len(p), nil
	}
	return h.Conn.Write(p)
}

// release sends what was held in one write and stops holding.
func (h *heldConn) release() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hold = false
	_, err := h.Conn.Write(h.held)
	h.held = nil
	return err
}

func dialHeld(t testing.TB, url string) (*raw, *heldConn) {
	t.Helper()
	var hc *heldConn
	d := websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		hc = &heldConn{Conn: c}
		return hc, nil
	}}
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	ws, _, err := d.DialContext(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { ws.Close() })
	return &raw{t: t, ws: ws}, hc
}

// §6.2 drops clients that stop reading, not busy ones. Three parties each pipeline 400
// peer-to-peer messages of 8 KiB to a fourth, all at once (one write each, as the replay
// generator sends a party's frames): a round of many concurrent sessions. The fourth reads at
// full speed, but three read pumps fill its queue faster than one socket drains it, so its
// queue holds hundreds of frames for a moment. It must get all 1,200, in order per sender, and
// not be dropped as slow.
func TestSection6_2_BurstToAReadingClientIsNotDropped(t *testing.T) {
	modes(t, func(t *testing.T, compat bool) {
		inst := startRelay(t, compat)
		const senders, burst = 3, 400
		rs := []*raw{dialRaw(t, inst.URL())} // the receiver, party 1
		var held []*heldConn
		for range senders {
			r, hc := dialHeld(t, inst.URL())
			rs, held = append(rs, r), append(held, hc)
		}
		g := createGroup(t, rs[0], senders+1, 1)
		for _, r := range rs[1:] {
			joinGroup(t, r, g)
		}
		s := createSession(t, rs[0], g, protocol.KindKeygen, nil)
		for i, r := range rs {
			if i > 0 {
				r.event(protocol.EventSessionCreate)
			}
			signup(t, r, g, s.UUID, protocol.KindKeygen)
		}
		for _, r := range rs {
			r.event(protocol.EventSessionSignup)
		}

		// 8 KiB bodies (tss-lib's ECDSA keygen broadcasts are ~180 KB): 10 MB in all, more than
		// the kernel buffers between relay and receiver absorb (Linux: 4 MiB + 128 KiB at most),
		// so the rest waits in the relay's queue for the receiver.
		body := json.RawMessage(`"` + strings.Repeat("ab", 4<<10) + `"`)
		to := uint16(1)
		for i, r := range rs[1:] {
			held[i].mu.Lock()
			held[i].hold = true
			held[i].mu.Unlock()
			for k := range burst {
				r.request(protocol.MethodSessionMessage, protocol.SessionMessageParams{GroupID: g, SessionID: s.UUID, Kind: protocol.KindKeygen,
					Message: protocol.Message{Round: uint16(k), Sender: uint16(i + 2), Receiver: &to, UUID: s.UUID, Body: body}})
			}
		}
		var wg sync.WaitGroup
		defer wg.Wait()
		errs := make(chan error, senders)
		for i, r := range rs[1:] {
			wg.Add(1)
			go func() { // send the burst, then read its answers
				defer wg.Done()
				if err := held[i].release(); err != nil {
					errs <- fmt.Errorf("party %d: send: %w", i+2, err)
					return
				}
				for k := range burst {
					in, data, err := r.tryRead(testWait)
					if err != nil || in.Error != nil || in.IsEvent() {
						errs <- fmt.Errorf("party %d: Expected: response %d / Actual: %s (%v)", i+2, k+1, data, err)
						return
					}
				}
			}()
		}

		// The receiver reads meanwhile, as fast as it can.
		next := make([]int, senders+2)
		for n := range senders * burst {
			in, data, err := rs[0].tryRead(testWait)
			if err != nil {
				t.Fatalf("Expected: %d sessionMessage frames / Actual: %d, then %v (slow disconnects %v)",
					senders*burst, n, err, metric(t, inst, "mpcrelay_slow_client_disconnects_total"))
			}
			ev, err := in.Event()
			var m protocol.Message
			if err == nil && ev.Name == protocol.EventSessionMessage {
				err = json.Unmarshal(ev.Payload, &m)
			}
			if err != nil || ev.Name != protocol.EventSessionMessage || m.Sender < 2 || int(m.Sender) > senders+1 {
				t.Fatalf("frame %d: Expected: sessionMessage from a sender / Actual: %s (%v)", n, data, err)
			}
			if int(m.Round) != next[m.Sender] {
				t.Fatalf("Expected: round %d from party %d / Actual: %d", next[m.Sender], m.Sender, m.Round)
			}
			next[m.Sender]++
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if got := metric(t, inst, "mpcrelay_slow_client_disconnects_total"); got != 0 {
			t.Fatalf("slow disconnects: Expected: 0 / Actual: %v", got)
		}
	})
}
