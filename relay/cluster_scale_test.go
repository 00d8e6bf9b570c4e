package relay_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"mpcrelay/relay"
	"mpcrelay/relay/cluster/natstest"
	"mpcrelay/relay/protocol"
)

// What lets a cluster outgrow one machine, and the guarantees it keeps: the owner runs the
// requests of different connections at once (one lane per connection, relay/cluster/lanes.go),
// and publishes an event once per receiving node (clusterLink.deliver).

// flood makes the parties of groups owned by one node broadcast to each other in bursts of 8
// until stop, so that the owner runs many connections' requests at once. It returns a function
// that stops them and waits (once).
func flood(t *testing.T, owner, at string, groups int) (stop func()) {
	t.Helper()
	done := make(chan struct{})
	var wg sync.WaitGroup
	var conns []*websocket.Conn
	for range groups {
		g, s, ps := ownedPair(t, owner, at)
		for i, r := range ps {
			frame := messageRequest(t, g, s, uint16(i+1), nil, "flood")
			conns = append(conns, r.ws)
			wg.Go(func() {
				const burst = 8
				for {
					select {
					case <-done:
						return
					default:
					}
					for range burst {
						if r.ws.WriteMessage(websocket.TextMessage, frame) != nil {
							return
						}
					}
					for range 2 * burst { // its responses and the partner's broadcasts
						if _, rd, err := r.ws.NextReader(); err != nil {
							return
						} else {
							_, _ = io.Copy(io.Discard, rd)
						}
					}
				}
			})
		}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			for _, ws := range conns {
				_ = ws.SetReadDeadline(time.Now()) // a party may wait for a partner that stopped
			}
			wg.Wait()
		})
	}
}

func messageRequest(t testing.TB, g, s uuid.UUID, sender uint16, receiver *uint16, body string) []byte {
	t.Helper()
	frame, err := protocol.NewRequest(uint64(sender), protocol.MethodSessionMessage, protocol.SessionMessageParams{
		GroupID: g, SessionID: s, Kind: protocol.KindSign,
		Message: protocol.Message{Round: 1, Sender: sender, Receiver: receiver, UUID: s, Body: json.RawMessage(`"` + body + `"`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return frame
}

// §1.3 while the owner runs many groups at once: one connection's requests on several groups
// of that owner (pipelined, interleaved with a request that is not a Session.message and an
// invalid frame) are run in order and answered in order, each response before its event,
// while other connections keep the owner busy with other groups.
func TestClusterConnectionInOrderWhileOwnerRunsGroupsAtOnce(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	// No node dies here: a slow liveness (10 s dead-after), not startNode's fast one, which a flood on a
	// loaded machine could trip.
	slow := func(c *relay.Config) { c.Cluster.Heartbeat, c.Cluster.DeadAfter = time.Second, 10*time.Second }
	a, b := startNode(t, url, slow), startNode(t, url, slow)
	stop := flood(t, a.URL(), b.URL(), 4)
	defer stop()
	x := dialRaw(t, b.URL())
	type grp struct{ g, s uuid.UUID }
	var groups []grp
	for range 4 {
		g := createGroup(t, dialRaw(t, a.URL()), 3, 1)
		joinGroup(t, x, g)
		s := createSession(t, x, g, protocol.KindSign, nil)
		signup(t, x, g, s.UUID, protocol.KindSign) // party 1: x sends to itself
		groups = append(groups, grp{g, s.UUID})
	}
	extra := createGroup(t, dialRaw(t, a.URL()), 3, 1)
	served := metric(t, a, "mpcrelay_cluster_requests_served_total")
	const n = 150
	first := x.nextID + 1
	for k := range n {
		switch k {
		case 50:
			x.request(protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: extra})
		case 100:
			x.nextID++ // an invalid frame, answered where it stands (-32700, id null)
			x.send(`{"jsonrpc":"2.0","id":` + fmt.Sprint(x.nextID) + `,"method":`)
		default:
			gr := groups[k%len(groups)]
			x.request(protocol.MethodSessionMessage, protocol.SessionMessageParams{GroupID: gr.g, SessionID: gr.s, Kind: protocol.KindSign,
				Message: protocol.Message{Round: uint16(k), Sender: 1, Receiver: protocol.Receiver(1), UUID: gr.s, Body: json.RawMessage(fmt.Sprint(k))}})
		}
	}
	for k := range n {
		in, data := x.read(testWait)
		switch k {
		case 100:
			if in.Error == nil || in.Error.Code != protocol.CodeParseError {
				t.Fatalf("frame for request %d: Expected: the parse error, in its place / Actual: %s", k, data)
			}
			continue
		case 50:
			if id, ok := in.IDNumber(); !ok || id != int64(first)+int64(k) || in.Error != nil {
				t.Fatalf("frame for request %d: Expected: the Group.join response / Actual: %s", k, data)
			}
			continue
		}
		if id, ok := in.IDNumber(); !ok || id != int64(first)+int64(k) || in.Error != nil {
			t.Fatalf("frame for request %d: Expected: response %d / Actual: %s", k, int(first)+k, data)
		}
		in, data = x.read(testWait)
		if ev, err := in.Event(); err != nil || !strings.Contains(string(ev.Payload), fmt.Sprintf(`"round":%d,`, k)) {
			t.Fatalf("after response %d: Expected: its event / Actual: %s", k, data)
		}
	}
	if d := metric(t, a, "mpcrelay_cluster_requests_served_total") - served; d < n+50 {
		t.Fatalf("Expected: the owner busy with the other groups meanwhile / Actual: %v requests served", d)
	}
	stop()
	waitMetric(t, a, "mpcrelay_cluster_requests_queued", 0) // every request received has run
	x.silent()                                              // nothing twice
}

// An event goes to another node once, carrying the list of its receivers there, which that node
// hands out: every receiver gets every broadcast exactly once and in order, and the owner
// publishes one NATS message per event and receiving node — from a party on the owner, and
// from a party on another node (a forwarded request).
func TestClusterBroadcastOncePerReceivingNode(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	a, b, c := startNode(t, url), startNode(t, url), startNode(t, url)
	// Party 1 on A (the owner), 2 and 6 on C, 3, 4 and 5 on B.
	at := []*relay.Instance{a, c, b, b, b, c}
	ps := make([]*raw, len(at))
	for i, n := range at {
		ps[i] = dialRaw(t, n.URL())
	}
	g := createGroup(t, ps[0], uint16(len(ps)), 1)
	for _, p := range ps[1:] {
		joinGroup(t, p, g)
	}
	s := createSession(t, ps[0], g, protocol.KindKeygen, nil).UUID
	for i, p := range ps {
		if i > 0 {
			p.event(protocol.EventSessionCreate)
		}
		if got := signup(t, p, g, s, protocol.KindKeygen); got != uint16(i+1) {
			t.Fatalf("signup: Expected: %d / Actual: %d", i+1, got)
		}
	}
	for _, p := range ps {
		p.event(protocol.EventSessionSignup)
	}
	// A counts an event message once it is published, under the group's lock: a request that
	// takes that lock after the signups' events came has A's count of them behind it.
	ps[0].ok(protocol.MethodSessionJoin, protocol.SessionParams{GroupID: g, SessionID: s, Kind: protocol.KindKeygen}, nil)
	const out, msgsIn, framesIn = "mpcrelay_cluster_event_messages_out_total", "mpcrelay_cluster_event_messages_in_total", "mpcrelay_cluster_event_frames_in_total"
	before := map[string]float64{"a out": metric(t, a, out), "b msgs": metric(t, b, msgsIn), "b frames": metric(t, b, framesIn),
		"c msgs": metric(t, c, msgsIn), "c frames": metric(t, c, framesIn)}
	const n = 20
	for _, sender := range []int{1, 0} { // party 2 (forwarded to A), then party 1 (on A)
		p := ps[sender]
		for k := range n {
			p.request(protocol.MethodSessionMessage, protocol.SessionMessageParams{GroupID: g, SessionID: s, Kind: protocol.KindKeygen,
				Message: protocol.Message{Round: uint16(k), Sender: uint16(sender + 1), UUID: s, Body: json.RawMessage(fmt.Sprint(k))}})
		}
		for k := range n {
			if in, data := p.read(testWait); in.Error != nil || in.IsEvent() {
				t.Fatalf("party %d's response %d: %s", sender+1, k, data)
			}
		}
		for i, r := range ps {
			if i == sender {
				continue
			}
			for k := range n {
				ev := r.event(protocol.EventSessionMessage)
				if want := fmt.Sprintf(`"round":%d,"sender":%d,`, k, sender+1); !strings.Contains(string(ev.Payload), want) {
					t.Fatalf("party %d, event %d: Expected: %s / Actual: %s", i+1, k, want, ev.Payload)
				}
			}
		}
	}
	for _, r := range ps {
		r.noEvents() // each exactly once
	}
	// Party 2's broadcasts reach nodes B and C; party 1's reach B and C: 2 messages each.
	for _, m := range []struct {
		name string
		n    *relay.Instance
		key  string
		want float64
	}{
		{"A's event messages out (one per event and node)", a, out, 4 * n},
		{"B's event messages in", b, msgsIn, 2 * n},
		{"B's frames handed to its 3 receivers", b, framesIn, 3 * 2 * n},
		{"C's event messages in", c, msgsIn, 2 * n},
		{"C's frames handed out (party 6 twice, party 2 once)", c, framesIn, 3 * n},
	} {
		k := map[*relay.Instance]string{a: "a", b: "b", c: "c"}[m.n]
		key := k + map[string]string{out: " out", msgsIn: " msgs", framesIn: " frames"}[m.key]
		// Counted once published: the owner may count its last one after the event was read.
		if got := pollMetric(t, m.n, m.key, before[key]+m.want) - before[key]; got != m.want {
			t.Errorf("%s: Expected: %v / Actual: %v", m.name, m.want, got)
		}
	}
}

// cuttableLink is a TCP proxy between one relay node and NATS. Cutting it stops both directions
// at once and refuses new connections, as a dead machine or a partition would for the others.
type cuttableLink struct {
	ln    net.Listener
	to    string
	mu    sync.Mutex
	conns []net.Conn
	cut   bool
}

func newCuttableLink(t *testing.T, natsURL string) *cuttableLink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cuttableLink{ln: ln, to: strings.TrimPrefix(natsURL, "nats://")}
	go p.serve()
	t.Cleanup(p.Cut)
	return p
}

func (p *cuttableLink) URL() string { return "nats://" + p.ln.Addr().String() }

func (p *cuttableLink) serve() {
	for {
		down, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.to)
		if err != nil {
			down.Close()
			continue
		}
		p.mu.Lock()
		if p.cut {
			down.Close()
			up.Close()
		}
		p.conns = append(p.conns, down, up)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, down); up.Close() }()
		go func() { _, _ = io.Copy(down, up); down.Close() }()
	}
}

// Blip drops the connections through the link, as a brief network fault does; new ones get
// through.
func (p *cuttableLink) Blip() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// Cut ends the link for good.
func (p *cuttableLink) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
}

// A node dies (its link cut: no goodbye) while the owner runs its connections' requests in many
// groups at once: within dead-after + heartbeat the owner removes them from its groups (§6.1)
// and closes its own connections that were in the dead node's groups (4001).
func TestClusterNodeDeathWhileOwnerBusy(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	link := newCuttableLink(t, url)
	// Liveness faster than production, so that the bound is short, but slower than startNode's:
	// the flood must not make a live node look dead on a loaded machine.
	const heartbeat, deadAfter = 200 * time.Millisecond, time.Second
	live := func(c *relay.Config) { c.Cluster.Heartbeat, c.Cluster.DeadAfter = heartbeat, deadAfter }
	a := startNode(t, url, live)
	b := startNode(t, link.URL(), live, func(c *relay.Config) { c.DrainTimeout = 200 * time.Millisecond })
	const busy = 4
	var full []uuid.UUID // groups on A whose other two members are on B
	for range busy {
		g, _, _ := ownedPair(t, a.URL(), b.URL())
		full = append(full, g)
	}
	stop := flood(t, a.URL(), b.URL(), busy)
	defer stop()
	x := dialRaw(t, a.URL())
	joinGroup(t, x, createGroup(t, dialRaw(t, b.URL()), 2, 1)) // a group of B with a member on A
	start := time.Now()
	link.Cut()
	ce := x.closed()
	d := time.Since(start)
	if ce == nil || ce.Code != 4001 {
		t.Fatalf("Expected: A's connection in B's group closed with 4001 / Actual: %v", ce)
	}
	// The bound is dead-after + heartbeat; the slack is for a loaded machine.
	if bound := deadAfter + heartbeat + 2*time.Second; d > bound {
		t.Fatalf("Expected: B declared dead within %s / Actual: %s", bound, d)
	}
	waitMetric(t, a, `mpcrelay_cluster_nodes_lost_total{reason="dead"}`, 1)
	for _, g := range full { // B's parties left (§6.1): each group has room again
		joinGroup(t, dialRaw(t, a.URL()), g)
	}
}
