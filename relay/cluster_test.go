package relay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"mpcrelay/relay"
	"mpcrelay/relay/cluster"
	"mpcrelay/relay/cluster/natstest"
	"mpcrelay/relay/protocol"
)

// Cluster mode over real NATS servers in-process (relay/cluster/natstest). The conformance
// suite runs across nodes in conformance/cluster_test.go; these tests cover what it cannot:
// failures, limits and the ordering of one connection's requests across owners.

// startNode starts one relay node of cluster "t" on NATS url. Nodes hear each other's
// heartbeats at once, but give one up (or their NATS link: pings every DeadAfter/2, two may go
// unanswered) only after 2 s, so that a loaded machine cannot make a live one look dead; the
// tests of a node's death set a quicker liveness themselves.
func startNode(t testing.TB, url string, tweak ...func(*relay.Config)) *relay.Instance {
	t.Helper()
	return startRelay(t, false, append([]func(*relay.Config){func(c *relay.Config) {
		c.Cluster = cluster.Config{URL: url, Name: "t", Heartbeat: 100 * time.Millisecond, DeadAfter: 2 * time.Second}
	}}, tweak...)...)
}

func ownerOf(id uuid.UUID) cluster.NodeID { return cluster.OwnerOf(id) }

func TestClusterGroupSpansNodes(t *testing.T) {
	nats := natstest.Cluster(t, 3)
	nodes := []*relay.Instance{startNode(t, nats[0].ClientURL()), startNode(t, nats[1].ClientURL()), startNode(t, nats[2].ClientURL())}
	a, b, c := dialRaw(t, nodes[0].URL()), dialRaw(t, nodes[1].URL()), dialRaw(t, nodes[2].URL())
	g := createGroup(t, a, 3, 1)
	if g2 := createGroup(t, a, 2, 1); ownerOf(g2) != ownerOf(g) || ownerOf(createGroup(t, b, 2, 1)) == ownerOf(g) {
		t.Fatal("Expected: the uuids of one node's groups share its node id, other nodes' do not")
	}
	joinGroup(t, b, g)
	joinGroup(t, c, g)
	s := createSession(t, a, g, protocol.KindKeygen, nil)
	b.event(protocol.EventSessionCreate)
	c.event(protocol.EventSessionCreate)
	for i, r := range []*raw{a, b, c} {
		if n := signup(t, r, g, s.UUID, protocol.KindKeygen); n != uint16(i+1) {
			t.Fatalf("signup: Expected: %d / Actual: %d", i+1, n)
		}
	}
	for _, r := range []*raw{a, b, c} {
		r.event(protocol.EventSessionSignup)
	}
	// §4.7 across nodes: a broadcast from node 3 and a message from node 2 to node 1.
	c.ok(protocol.MethodSessionMessage, protocol.SessionMessageParams{GroupID: g, SessionID: s.UUID, Kind: protocol.KindKeygen,
		Message: protocol.Message{Round: 1, Sender: 3, UUID: s.UUID, Body: json.RawMessage(`{"from":"c"}`)}}, nil)
	b.ok(protocol.MethodSessionMessage, protocol.SessionMessageParams{GroupID: g, SessionID: s.UUID, Kind: protocol.KindKeygen,
		Message: protocol.Message{Round: 1, Sender: 2, Receiver: protocol.Receiver(1), UUID: s.UUID, Body: json.RawMessage(`"p2p"`)}}, nil)
	if ev := a.event(protocol.EventSessionMessage); !strings.Contains(string(ev.Payload), `{"from":"c"}`) {
		t.Fatalf("Expected: c's broadcast first on a / Actual: %s", ev.Payload)
	}
	if ev := a.event(protocol.EventSessionMessage); !strings.Contains(string(ev.Payload), `"body":"p2p"`) {
		t.Fatalf("Expected: b's message to party 1 / Actual: %s", ev.Payload)
	}
	b.event(protocol.EventSessionMessage)
	for i, r := range []*raw{a, b, c} {
		r.ok(protocol.MethodSessionFinish, protocol.SessionFinishParams{GroupID: g, SessionID: s.UUID, Number: uint16(i + 1)}, nil)
	}
	for _, r := range []*raw{a, b, c} {
		if ev := r.event(protocol.EventSessionClosed); string(ev.Payload) != "[1,2,3]" {
			t.Fatalf("Expected: sessionClosed [1,2,3] / Actual: %s", ev.Payload)
		}
	}
	c.silent() // exactly once: nothing more for c
}

// §1.3 across owners: one connection's pipelined requests on groups of three different nodes
// are answered in order, and each response comes before the events its request sends to the
// same connection.
func TestClusterRequestsInOrderAcrossOwners(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	nodes := []*relay.Instance{startNode(t, url), startNode(t, url), startNode(t, url)}
	x := dialRaw(t, nodes[0].URL())
	type grp struct{ g, s uuid.UUID }
	var groups []grp
	for _, n := range nodes {
		owner := dialRaw(t, n.URL())
		g := createGroup(t, owner, 2, 1)
		joinGroup(t, x, g)
		s := createSession(t, x, g, protocol.KindSign, nil) // sign: no event
		signup(t, x, g, s.UUID, protocol.KindSign)
		owner.ok(protocol.MethodSessionJoin, protocol.SessionParams{GroupID: g, SessionID: s.UUID, Kind: protocol.KindSign}, nil)
		signup(t, owner, g, s.UUID, protocol.KindSign)
		x.event(protocol.EventSessionSignup)
		groups = append(groups, grp{g, s.UUID})
	}
	// x sends 30 messages addressed to itself (party 1), round-robin over the three owners,
	// without waiting: each must come back as response k, then event k.
	const n = 30
	first := x.nextID + 1
	for k := range n {
		gr := groups[k%3]
		x.request(protocol.MethodSessionMessage, protocol.SessionMessageParams{GroupID: gr.g, SessionID: gr.s, Kind: protocol.KindSign,
			Message: protocol.Message{Round: uint16(k), Sender: 1, Receiver: protocol.Receiver(1), UUID: gr.s, Body: json.RawMessage(fmt.Sprint(k))}})
	}
	for k := range n {
		in, data := x.read(testWait)
		if id, ok := in.IDNumber(); !ok || id != int64(first)+int64(k) || in.Error != nil {
			t.Fatalf("frame %d: Expected: response %d / Actual: %s", 2*k, int(first)+k, data)
		}
		in, data = x.read(testWait)
		ev, err := in.Event()
		if err != nil || !strings.Contains(string(ev.Payload), fmt.Sprintf(`"round":%d,`, k)) {
			t.Fatalf("frame %d: Expected: the event of request %d / Actual: %s", 2*k+1, k+1, data)
		}
	}
}

// A burst of Session.messages to one owner goes out without waiting (pipelined); a frame that
// is answered locally (an invalid one, a request on a local group) waits for the burst, so the
// connection still gets every answer in request order, and each response before its event.
func TestClusterPipelinedMessagesKeepOrder(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	n1, n2 := startNode(t, url), startNode(t, url)
	owner := dialRaw(t, n1.URL())
	x := dialRaw(t, n2.URL())
	g := createGroup(t, owner, 2, 1)
	joinGroup(t, x, g)
	s := createSession(t, x, g, protocol.KindSign, nil)
	signup(t, x, g, s.UUID, protocol.KindSign)
	owner.ok(protocol.MethodSessionJoin, protocol.SessionParams{GroupID: g, SessionID: s.UUID, Kind: protocol.KindSign}, nil)
	signup(t, owner, g, s.UUID, protocol.KindSign)
	x.event(protocol.EventSessionSignup)
	local := createGroup(t, x, 2, 1) // on x's own node
	const n = 60
	first := x.nextID + 1
	for k := range n {
		switch k {
		case 20:
			x.nextID++ // an invalid frame answered where it stands (-32700 carries no id: null)
			x.send(`{"jsonrpc":"2.0","id":` + fmt.Sprint(x.nextID) + `,"method":`)
		case 40:
			x.request(protocol.MethodSessionCreate, protocol.SessionCreateParams{GroupID: local, Kind: protocol.KindSign, Value: json.RawMessage(`null`)})
		default:
			x.request(protocol.MethodSessionMessage, protocol.SessionMessageParams{GroupID: g, SessionID: s.UUID, Kind: protocol.KindSign,
				Message: protocol.Message{Round: uint16(k), Sender: 1, Receiver: protocol.Receiver(1), UUID: s.UUID, Body: json.RawMessage(fmt.Sprint(k))}})
		}
	}
	for k := range n {
		in, data := x.read(testWait)
		if k == 20 {
			if in.Error == nil || in.Error.Code != protocol.CodeParseError {
				t.Fatalf("frame for request %d: Expected: the parse error, in its place / Actual: %s", k, data)
			}
			continue
		}
		if id, ok := in.IDNumber(); !ok || id != int64(first)+int64(k) || in.Error != nil {
			t.Fatalf("frame for request %d: Expected: response %d / Actual: %s", k, int(first)+k, data)
		}
		if k == 40 {
			continue
		}
		in, data = x.read(testWait)
		if ev, err := in.Event(); err != nil || !strings.Contains(string(ev.Payload), fmt.Sprintf(`"round":%d,`, k)) {
			t.Fatalf("after response %d: Expected: its event / Actual: %s", k, data)
		}
	}
	// Every message was forwarded: with the join, create and signup before them, n-2+3. A
	// request is counted when its done has come, which may be after its response and event.
	waitMetric(t, n2, `mpcrelay_cluster_requests_forwarded_total{outcome="ok"}`, n-2+3)
}

func TestClusterGroupLimitCountsEveryNode(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	limit := func(c *relay.Config) { c.MaxGroupsPerConn = 2 }
	n1, n2, n3 := startNode(t, url, limit), startNode(t, url, limit), startNode(t, url, limit)
	x := dialRaw(t, n1.URL())
	createGroup(t, x, 2, 1)                                     // on node 1
	joinGroup(t, x, createGroup(t, dialRaw(t, n2.URL()), 3, 1)) // on node 2
	e := x.fails(protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: createGroup(t, dialRaw(t, n3.URL()), 3, 1)}, protocol.CodeInternal)
	if !strings.Contains(e.Message, "2 groups") {
		t.Fatalf("Expected: the per-connection limit counts groups on every node / Actual: %s", e.Message)
	}
	x.fails(protocol.MethodGroupCreate, protocol.GroupCreateParams{Label: "l", Params: protocol.Parameters{Parties: 2, Threshold: 1}}, protocol.CodeInternal)
}

// §6.1 across nodes: when a node shuts down, its connections leave the groups of the others,
// and the others' connections in its groups are closed (4001): those groups are gone.
func TestClusterNodeLeaving(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	n1, n2 := startNode(t, url), startNode(t, url, func(c *relay.Config) { c.DrainTimeout = 200 * time.Millisecond })
	a, b := dialRaw(t, n1.URL()), dialRaw(t, n2.URL())
	g1 := createGroup(t, a, 2, 1) // on node 1, full once b joins
	joinGroup(t, b, g1)
	g2 := createGroup(t, b, 2, 1) // on node 2, a member on node 1
	joinGroup(t, a, g2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n2.Shutdown(ctx); err != nil { // it says goodbye last, after draining b
		t.Fatal(err)
	}
	start := time.Now()
	if ce := a.closed(); ce == nil || ce.Code != 4001 || !strings.Contains(ce.Text, "is gone") {
		t.Fatalf("Expected: a closed with 4001 (its group on node 2 is gone) / Actual: %v", ce)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Expected: a closed at once after node 2 said goodbye / Actual: after %s", d)
	}
	// b's place in g1 is free again (§6.1), but a's close emptied g1: it is deleted. a leaves
	// its groups when the closing handshake ends, which may be after a has read the close frame.
	waitMetric(t, n1, "mpcrelay_groups", 0)
	c := dialRaw(t, n1.URL())
	c.fails(protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: g1}, protocol.CodeInternal)
	if e := c.fails(protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: g2}, protocol.CodeInternal); !strings.Contains(e.Message, "gone") {
		t.Fatalf("Expected: node 2's group named gone / Actual: %s", e.Message)
	}
}

// §6.1 across nodes: a join answered just as the link is lost — the home node books the membership only after the
// loss dropped the ones it knew. The connection must be closed all the same (4002), not left in
// a group out of reach (TestClusterNATSRestart flaked so under load: a's join was booked after
// the drop, and a stayed open).
func TestClusterJoinAnsweredAsTheLinkIsLost(t *testing.T) {
	srv := natstest.Server(t)
	n1, n2 := startNode(t, srv.ClientURL()), startNode(t, srv.ClientURL())
	a, c := dialRaw(t, n1.URL()), dialRaw(t, n1.URL())
	g := createGroup(t, dialRaw(t, n2.URL()), 3, 1)
	joinGroup(t, c, g) // booked before the loss: the drop closes c
	// c has its answer before n1 is done with its join: once c's next request (a local one) is
	// answered, it is, and the hook below cannot catch c's join instead of a's.
	createGroup(t, c, 2, 1)
	waiting, resumeNow := holdAfterForward(t, n1)
	joinGroup(t, a, g) // a has its answer; n1 has not booked it yet
	<-waiting
	srv.Shutdown()
	if ce := c.closed(); ce == nil || ce.Code != 4002 {
		t.Fatalf("Expected: c closed with 4002 when NATS went away / Actual: %v", ce)
	}
	resumeNow() // the drop has run: now n1 books a's join
	if ce := a.closed(); ce == nil || ce.Code != 4002 {
		t.Fatalf("Expected: a closed with 4002 (its join was answered as the link was lost) / Actual: %v", ce)
	}
}

// holdAfterForward holds the read pump of the next request n forwards once its wait for the
// owner has ended, before n books what it learned: waiting is closed then, and resume lets it
// go on (at the latest when the test ends, before n's shutdown, which waits for it).
func holdAfterForward(t *testing.T, n *relay.Instance) (waiting <-chan struct{}, resume func()) {
	w, r := make(chan struct{}), make(chan struct{})
	var once, resumed sync.Once
	resume = func() { resumed.Do(func() { close(r) }) }
	t.Cleanup(resume)
	relay.AfterForward(n.Server(), func() { once.Do(func() { close(w); <-r }) })
	return w, resume
}

func TestClusterNATSRestart(t *testing.T) {
	srv := natstest.Server(t)
	writeWait := func(c *relay.Config) { c.WriteWait = 2 * time.Second }
	n1, n2 := startNode(t, srv.ClientURL(), writeWait), startNode(t, srv.ClientURL(), writeWait)
	a, b := dialRaw(t, n1.URL()), dialRaw(t, n2.URL())
	g := createGroup(t, b, 3, 1)
	joinGroup(t, a, g)
	other := createGroup(t, dialRaw(t, n2.URL()), 3, 1) // a group of node 2 that a is not in
	if got := health(t, n1); got.code != 200 || !strings.Contains(got.body, "NATS connected") {
		t.Fatalf("healthz: Expected: 200 with NATS connected / Actual: %d %q", got.code, got.body)
	}

	srv.Shutdown()
	// a was in a group of node 2: that membership ended with the link (4002).
	if ce := a.closed(); ce == nil || ce.Code != 4002 {
		t.Fatalf("Expected: a closed with 4002 when NATS went away / Actual: %v", ce)
	}
	x := dialRaw(t, n1.URL())
	start := time.Now()
	e := x.fails(protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: other}, protocol.CodeInternal)
	if d := time.Since(start); d > 2*time.Second || !strings.Contains(e.Message, "no NATS connection") {
		t.Fatalf("Expected: -32603 naming the NATS link within --write-wait / Actual: %q after %s", e.Message, d)
	}
	if got := health(t, n1); got.code != 503 || !strings.Contains(got.body, "NATS unreachable") {
		t.Fatalf("healthz while NATS is down: Expected: 503 / Actual: %d %q", got.code, got.body)
	}
	// Groups of one node keep working without NATS.
	y := dialRaw(t, n1.URL())
	joinGroup(t, y, createGroup(t, x, 2, 1))

	natstest.Restart(t, srv)
	deadline := time.Now().Add(10 * time.Second)
	for health(t, n1).code != 200 || health(t, n2).code != 200 {
		if time.Now().After(deadline) {
			t.Fatal("Expected: both nodes reconnect to NATS / Actual: not within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// New groups span nodes again.
	z := dialRaw(t, n1.URL())
	g3 := createGroup(t, dialRaw(t, n2.URL()), 2, 1)
	for {
		in, data := z.call(protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: g3})
		if in.Error == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Expected: a cross-node join after NATS came back / Actual: %s", data)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if m := metric(t, n1, "mpcrelay_cluster_link_lost_total"); m != 1 {
		t.Errorf("Expected: mpcrelay_cluster_link_lost_total 1 / Actual: %v", m)
	}
	if m := metric(t, n1, `mpcrelay_cluster_requests_forwarded_total{outcome="link_down"}`); m < 1 {
		t.Errorf("Expected: the refused request counted as link_down / Actual: %v", m)
	}
}

// A request over the max_payload of the NATS server a node reconnected to (Start checked the
// one before) gets -32603 saying so, not "no NATS connection": the link is up.
func TestClusterRequestOverMaxPayload(t *testing.T) {
	srv := natstest.Server(t)
	n := startNode(t, srv.ClientURL(), func(c *relay.Config) { c.MaxFrameBytes = relay.MinFrameBytes })
	srv.Shutdown()
	natstest.Restart(t, srv, func(c *cluster.ServerConfig) { c.MaxPayload = 64 << 10 })
	deadline := time.Now().Add(10 * time.Second)
	for health(t, n).code != 200 {
		if time.Now().After(deadline) {
			t.Fatal("Expected: the node reconnects to NATS / Actual: not within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	x := dialRaw(t, n.URL())
	e := x.fails(protocol.MethodNotifyProposal, protocol.NotifyProposalParams{GroupID: cluster.NewGroupID(0xdeadbeef),
		SessionID: uuid.New(), ProposalID: "p", Message: strings.Repeat("m", 100<<10)}, protocol.CodeInternal)
	if !strings.Contains(e.Message, "cannot carry") || !strings.Contains(e.Message, "max_payload") {
		t.Fatalf("Expected: -32603 naming max_payload / Actual: %s", e.Message)
	}
	if m := metric(t, n, `mpcrelay_cluster_requests_forwarded_total{outcome="too_large"}`); m != 1 {
		t.Errorf("Expected: the request counted as too_large / Actual: %v", m)
	}
}

type healthReply struct {
	code int
	body string
}

func health(t *testing.T, n *relay.Instance) healthReply {
	t.Helper()
	resp, err := http.Get("http://" + n.Addr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return healthReply{resp.StatusCode, string(b)}
}

// A forwarded Group.join that the owner runs only after the caller's node gave up on it (-32603
// after the write wait) still makes the connection a member there. When that connection closes,
// its node must tell the owner (§6.1), or the owner keeps a member nobody can remove and the
// group stays full.
func TestClusterTimedOutJoinLeavesOnClose(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	// No node dies here: a slow liveness, so that a loaded machine cannot make one look dead.
	slow := func(c *relay.Config) { c.Cluster.Heartbeat, c.Cluster.DeadAfter = time.Second, 10*time.Second }
	a := startNode(t, url, slow)
	b := startNode(t, url, slow, func(c *relay.Config) { c.WriteWait = 500 * time.Millisecond })
	g := createGroup(t, dialRaw(t, a.URL()), 2, 1)
	release := relay.HoldGroup(a.Server(), g) // the owner is slow: the join waits for the lock
	y := dialRaw(t, b.URL())
	if e := y.fails(protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: g}, protocol.CodeInternal); !strings.Contains(e.Message, "did not answer") {
		release()
		t.Fatalf("Expected: the join timed out / Actual: %s", e.Message)
	}
	release()
	waitMembers := func(want int, what string) {
		t.Helper()
		deadline := time.Now().Add(testWait)
		for relay.GroupMembers(a.Server(), g) != want {
			if time.Now().After(deadline) {
				t.Fatalf("Expected: %s (%d members) / Actual: %d members", what, want, relay.GroupMembers(a.Server(), g))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitMembers(2, "the late join ran on the owner")
	y.ws.Close()
	waitMembers(1, "the closed connection left the owner's group")
}

// lateDone starts an owner node and a home node (on url, or on ownerURL for the owner; both
// changed by tweak) where the owner sends each forwarded request's response at once, and holds
// the done of the first request after hold() until release() (the owner slow to finish it, the
// link fine); the home node gives up on a request after 1 s. Neither node's liveness is at
// stake meanwhile (heartbeats 200 ms, dead after 2 s).
func lateDone(t *testing.T, url, ownerURL string, tweak ...func(*relay.Config)) (owner, home *relay.Instance, hold, release func()) {
	t.Helper()
	live := func(c *relay.Config) { c.Cluster.Heartbeat, c.Cluster.DeadAfter = 200*time.Millisecond, 2*time.Second }
	owner = startNode(t, ownerURL, append([]func(*relay.Config){live, func(c *relay.Config) { c.DrainTimeout = 200 * time.Millisecond }}, tweak...)...)
	home = startNode(t, url, append([]func(*relay.Config){live, func(c *relay.Config) { c.WriteWait = time.Second }}, tweak...)...)
	var armed atomic.Bool
	held := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(held) }) }
	t.Cleanup(release) // before the owner's shutdown, which waits for the request
	relay.SlowDone(owner.Server(), func() {
		if armed.CompareAndSwap(true, false) {
			<-held
		}
	})
	return owner, home, func() { armed.Store(true) }, release
}

// §6.1 across nodes: a Group.join whose response came but whose done did not (the owner slow to
// finish it, the link fine) may well have made the connection a member there. When the owner is
// then lost (its heartbeats stop), the connection is closed (4001) like the members the loss
// dropped, not left open in a group out of reach.
func TestClusterOwnerLostWhileJoinAwaitsItsDone(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	link := newCuttableLink(t, url)
	owner, home, hold, _ := lateDone(t, url, link.URL())
	g := createGroup(t, dialRaw(t, owner.URL()), 3, 1)
	y := dialRaw(t, home.URL())
	hold()
	joinGroup(t, y, g)
	createGroup(t, y, 2, 1) // y's next request runs once the home node gave up on the join's done
	link.Cut()
	if ce := y.closed(); ce == nil || ce.Code != 4001 {
		t.Fatalf("Expected: y closed with 4001 (its join's done never came, and the owner is gone) / Actual: %v", ce)
	}
}

// §6.1 across nodes: a done that comes after the home node gave up on its request still settles
// what the home node books — a group held there (the connection is closed with 4001 when the
// owner is lost) or none (it stays open: nothing of it was there) — whether the done comes after
// the home node booked the request as unanswered by its done, or before.
func TestClusterLateDoneSettlesMembership(t *testing.T) {
	for _, tc := range []struct {
		name      string
		member    bool // y's request is a Group.join (it holds a group there), or fails (it holds none)
		beforeEnd bool // the late done reaches the home node before the request's wait was booked
	}{
		{"join, done after booking", true, false},
		{"join, done before booking", true, true},
		{"no group, done after booking", false, false},
		{"no group, done before booking", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := natstest.Server(t).ClientURL()
			owner, home, hold, release := lateDone(t, url, url)
			g := createGroup(t, dialRaw(t, owner.URL()), 3, 1)
			w := dialRaw(t, home.URL()) // a member there whose done came in time: the loss's witness
			joinGroup(t, w, g)
			// Its response comes before its done: once w's next request is answered, the owner
			// is done with w's join, and the hold below cannot catch it instead of y's request.
			createGroup(t, w, 2, 1)
			waiting, resume := make(chan struct{}), make(chan struct{})
			var resumed sync.Once
			resumeNow := func() { resumed.Do(func() { close(resume) }) }
			t.Cleanup(resumeNow) // before the home node's shutdown
			if tc.beforeEnd {
				// Hold y's read pump between the end of its wait and the booking.
				var once sync.Once
				relay.AfterForward(home.Server(), func() { once.Do(func() { close(waiting); <-resume }) })
			}
			y := dialRaw(t, home.URL())
			hold()
			if tc.member {
				joinGroup(t, y, g)
			} else {
				y.fails(protocol.MethodSessionCreate, protocol.SessionCreateParams{GroupID: g, Kind: protocol.KindKeygen}, protocol.CodeInternal)
			}
			if tc.beforeEnd {
				<-waiting // the home node gave up on the done
				release()
				waitMetric(t, home, "mpcrelay_cluster_late_replies_total", 1)
				resumeNow()
			}
			createGroup(t, y, 2, 1) // runs once the home node booked y's request
			release()
			waitMetric(t, home, "mpcrelay_cluster_late_replies_total", 1)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := owner.Shutdown(ctx); err != nil { // a goodbye: the home node loses it at once
				t.Fatal(err)
			}
			if ce := w.closed(); ce == nil || ce.Code != 4001 {
				t.Fatalf("Expected: w closed with 4001 when the owner left / Actual: %v", ce)
			}
			if tc.member {
				if ce := y.closed(); ce == nil || ce.Code != 4001 {
					t.Fatalf("Expected: y closed with 4001 (its late done said it holds a group there) / Actual: %v", ce)
				}
				return
			}
			createGroup(t, y, 2, 1) // still open: its late done said it holds nothing there
			y.silent()
		})
	}
}

// §6.1 across nodes: a join answered just as its owner leaves the cluster — the home node books
// it only after the loss dropped the memberships it knew. The connection must be closed (4001)
// all the same, not left in a group that is gone.
func TestClusterJoinAnsweredAsItsOwnerLeaves(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	n1, n2 := startNode(t, url), startNode(t, url, func(c *relay.Config) { c.DrainTimeout = 200 * time.Millisecond })
	a := dialRaw(t, n1.URL())
	g := createGroup(t, dialRaw(t, n2.URL()), 3, 1)
	waiting, resumeNow := holdAfterForward(t, n1)
	joinGroup(t, a, g) // a has its answer; n1 has not booked it yet
	<-waiting
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n2.Shutdown(ctx); err != nil { // its goodbye: n1 loses it at once
		t.Fatal(err)
	}
	waitMetric(t, n1, `mpcrelay_cluster_nodes_lost_total{reason="left"}`, 1)
	resumeNow() // the drop has run: now n1 books a's join
	if ce := a.closed(); ce == nil || ce.Code != 4001 {
		t.Fatalf("Expected: a closed with 4001 (its join was answered as its owner left) / Actual: %v", ce)
	}
}

// A node keeps count of another node's losses only while requests to it are on their way (to
// see one that happened meanwhile, as above): it kept a count for every node that ever left
// the cluster or restarted its link, for as long as it ran.
func TestClusterForgetsTheLossesOfNodesItNoLongerSendsTo(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	home := startNode(t, url)
	const nodes = 3
	for i := range nodes {
		n := startNode(t, url, func(c *relay.Config) { c.DrainTimeout = 200 * time.Millisecond })
		a := dialRaw(t, home.URL())
		joinGroup(t, a, createGroup(t, dialRaw(t, n.URL()), 2, 1)) // home hears of n
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := n.Shutdown(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if ce := a.closed(); ce == nil || ce.Code != 4001 {
			t.Fatalf("Expected: a closed with 4001 when its group's node left / Actual: %v", ce)
		}
		waitMetric(t, home, `mpcrelay_cluster_nodes_lost_total{reason="left"}`, float64(i+1))
	}
	if got := relay.LossRecords(home.Server()); got != 0 {
		t.Fatalf("Expected: no loss counts kept (no request on its way) / Actual: counts of %d nodes", got)
	}
}
