package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"mpcrelay/relay/cluster"
	"mpcrelay/relay/cluster/natstest"
)

// recorder is a Handler that records what its node is told, and runs a script for requests.
type recorder struct {
	mu        sync.Mutex
	delivered []string // "conn:frame"
	closed    []string // "node/conn"
	lost      []string // node ids
	linkLost  []string
	lostAt    []int    // len(delivered) when each LinkLost came
	lateDones []string // "owner/conn seq=… holds=…"
	missed    []string // receivers told they missed a frame
	missedAt  int      // len(delivered) when the last of them was told
	execute   func(r *cluster.Request)
	gate      func() // if set, Deliver runs it first
	changed   chan struct{}
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{}, 1)} }

func (h *recorder) note() {
	select {
	case h.changed <- struct{}{}:
	default:
	}
}

func (h *recorder) Execute(r *cluster.Request) {
	h.mu.Lock()
	run := h.execute
	h.mu.Unlock()
	if run != nil {
		run(r)
	}
}

func (h *recorder) Deliver(conns []uint64, frame []byte) {
	h.mu.Lock()
	gate := h.gate
	h.mu.Unlock()
	if gate != nil {
		gate()
	}
	h.mu.Lock()
	for _, c := range conns {
		h.delivered = append(h.delivered, fmt.Sprintf("%d:%s", c, frame))
	}
	h.mu.Unlock()
	h.note()
}

func (h *recorder) ConnClosed(from cluster.NodeID, conn uint64) {
	h.mu.Lock()
	h.closed = append(h.closed, fmt.Sprintf("%s/%d", from, conn))
	h.mu.Unlock()
	h.note()
}

func (h *recorder) NodeLost(node cluster.NodeID, reason string) {
	h.mu.Lock()
	h.lost = append(h.lost, node.String()+" "+reason)
	h.mu.Unlock()
	h.note()
}

func (h *recorder) LinkLost(reason string) {
	h.mu.Lock()
	h.linkLost = append(h.linkLost, reason)
	h.lostAt = append(h.lostAt, len(h.delivered))
	h.mu.Unlock()
	h.note()
}

func (h *recorder) LateDone(owner cluster.NodeID, conn uint64, res cluster.Result) {
	h.mu.Lock()
	h.lateDones = append(h.lateDones, fmt.Sprintf("%s/%d seq=%d holds=%d", owner, conn, res.Seq, res.Holds))
	h.mu.Unlock()
	h.note()
}

func (h *recorder) Missed(conns []uint64, reason string) {
	h.mu.Lock()
	for _, c := range conns {
		h.missed = append(h.missed, fmt.Sprint(c))
	}
	h.missedAt = len(h.delivered)
	h.mu.Unlock()
	h.note()
}

func (h *recorder) snapshot() (delivered, closed, lost, linkLost []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.delivered...), append([]string(nil), h.closed...),
		append([]string(nil), h.lost...), append([]string(nil), h.linkLost...)
}

// waitFor polls cond until it holds or the bound passes.
func waitFor(t *testing.T, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", bound, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fast: nodes hear each other's heartbeats at once, but a node (or its NATS link: the client
// pings every DeadAfter/2 and gives up after two unanswered) is given up only after 2 s, so that
// a loaded machine cannot make a live one look dead (300 ms did in the relay's cluster tests
// under load, c33f285, 979276b). The test of failure detection sets a quick dead-after itself.
// A request's bound is generous too: tests begin up to 400 at once, and each one's bound runs
// from its Begin (the tests of timeouts set theirs).
var fast = cluster.Config{Name: "test", Heartbeat: 50 * time.Millisecond, DeadAfter: 2 * time.Second, RequestTimeout: 10 * time.Second}

// startNode starts a node of cfg (Name and timings from fast unless set) on url.
func startNode(t *testing.T, url string, mod ...func(*cluster.Config)) (*cluster.Node, *recorder) {
	t.Helper()
	cfg := fast
	cfg.URL = url
	for _, m := range mod {
		m(&cfg)
	}
	n, err := cluster.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := newRecorder()
	if err := n.Start(h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return n, h
}

// echoOwner makes owner (h's node) answer every request with "resp:<frame>" and send
// "ev:<frame>" to connection 100+Conn of the caller's node, after the response (Flush), and to
// connection 1 of node third (when set).
func echoOwner(h *recorder, owner, third *cluster.Node) {
	h.execute = func(r *cluster.Request) {
		// Errors are not checked: a frame lost during a test is missing where the test looks for
		// it, and after a failed test Close ends the link under a lane still running (a panic
		// here then killed the test binary and hid the failure).
		r.Respond([]byte("resp:" + string(r.Frame)))
		_ = r.Flush()
		_ = owner.Deliver(r.From, []uint64{100 + r.Conn}, []byte("ev:"+string(r.Frame)))
		if third != nil {
			_ = owner.Deliver(third.ID(), []uint64{1}, []byte("ev:"+string(r.Frame)))
		}
		r.Holds = 2
	}
}

func TestForwardRunsOnOwnerAndDeliversResponseBeforeEvents(t *testing.T) {
	for _, topo := range []string{"one NATS server", "three-server NATS cluster"} {
		t.Run(topo, func(t *testing.T) {
			var urls [3]string
			if topo == "one NATS server" {
				u := natstest.Server(t).ClientURL()
				urls = [3]string{u, u, u}
			} else {
				s := natstest.Cluster(t, 3)
				urls = [3]string{s[0].ClientURL(), s[1].ClientURL(), s[2].ClientURL()}
			}
			home, hh := startNode(t, urls[0])
			owner, oh := startNode(t, urls[1])
			third, th := startNode(t, urls[2])
			echoOwner(oh, owner, third)
			// A node learns of the others from their heartbeats; forwarding needs no such wait,
			// but interest in the owner's subjects must have crossed the NATS routes.
			waitFor(t, 5*time.Second, "nodes see each other", func() bool {
				return len(home.Status().Peers) == 2 && len(owner.Status().Peers) == 2
			})
			for i := range 50 {
				frame := fmt.Sprintf("req%d", i)
				res, err := home.Forward(context.Background(), owner.ID(), 7, 0, []byte(frame))
				if err != nil {
					t.Fatalf("forward %s: %v", frame, err)
				}
				if !res.Responded || res.Holds != 2 || res.CloseConn {
					t.Fatalf("result %+v, want responded, holding 2 groups", res)
				}
				// §1.3: when Forward returns, the response and then the event are delivered.
				got, _, _, _ := hh.snapshot()
				want := []string{"7:resp:" + frame, "107:ev:" + frame}
				if len(got) < 2*(i+1) || strings.Join(got[2*i:2*i+2], " ") != strings.Join(want, " ") {
					t.Fatalf("after request %d the home node delivered %q, want it to end with %q", i, got, want)
				}
			}
			waitFor(t, 5*time.Second, "third node gets 50 events", func() bool {
				got, _, _, _ := th.snapshot()
				return len(got) == 50
			})
			got, _, _, _ := th.snapshot()
			for i, g := range got {
				if want := fmt.Sprintf("1:ev:req%d", i); g != want {
					t.Fatalf("third node delivery %d = %q, want %q (order kept)", i, g, want)
				}
			}
		})
	}
}

func TestForwardToNoNodeFailsAtOnce(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	home, _ := startNode(t, url)
	start := time.Now()
	_, err := home.Forward(context.Background(), cluster.NodeID(0xdeadbeef), 1, 0, []byte("x"))
	if !errors.Is(err, cluster.ErrNoOwner) {
		t.Fatalf("err = %v, want ErrNoOwner", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("no-responders took %s; NATS answers it at once", d)
	}
}

func TestClustersOnOneNATSNeverMix(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	a, _ := startNode(t, url, func(c *cluster.Config) { c.Name = "east" })
	b, bh := startNode(t, url, func(c *cluster.Config) { c.Name = "west" })
	echoOwner(bh, b, nil)
	if _, err := a.Forward(context.Background(), b.ID(), 1, 0, []byte("x")); !errors.Is(err, cluster.ErrNoOwner) {
		t.Fatalf("a node of cluster east reached a node of cluster west: err = %v", err)
	}
	time.Sleep(3 * fast.Heartbeat)
	if p := a.Status().Peers; len(p) != 0 {
		t.Fatalf("east sees peers %v of another cluster", p)
	}
}

func TestForwardTimesOutWithinRequestTimeout(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	home, _ := startNode(t, url, func(c *cluster.Config) { c.RequestTimeout = 200 * time.Millisecond })
	owner, oh := startNode(t, url)
	release := make(chan struct{})
	oh.execute = func(r *cluster.Request) { <-release; r.Respond([]byte("late")) }
	defer close(release)
	start := time.Now()
	_, err := home.Forward(context.Background(), owner.ID(), 1, 0, []byte("x"))
	if !errors.Is(err, cluster.ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 2*time.Second {
		t.Fatalf("timed out after %s, want about 200ms", d)
	}
}

// A done that comes after Wait gave up on its request still reaches the handler (LateDone),
// with the request's number and what the owner said the connection holds (§6.1), and its
// response is not delivered a second time; a done of a request given up on before its owner was
// lost tells nothing (the loss voided it).
func TestLateDoneReachesTheHandler(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	home, hh := startNode(t, url, func(c *cluster.Config) { c.RequestTimeout = 200 * time.Millisecond })
	owner, oh := startNode(t, url)
	// The owner holds the done of connection c's request until free(c).
	held := map[uint64]chan struct{}{7: make(chan struct{}), 8: make(chan struct{})}
	freed := map[uint64]*sync.Once{7: {}, 8: {}}
	free := func(c uint64) { freed[c].Do(func() { close(held[c]) }) }
	t.Cleanup(func() { free(7); free(8) })
	oh.execute = func(r *cluster.Request) {
		r.Respond([]byte("resp:" + string(r.Frame)))
		if err := r.Flush(); err != nil {
			panic(err)
		}
		<-held[r.Conn]
		r.Holds = 1
	}
	res, err := home.Forward(context.Background(), owner.ID(), 7, 0, []byte("join"))
	if !errors.Is(err, cluster.ErrTimeout) || !res.Responded || res.Seq == 0 {
		t.Fatalf("forward: %+v %v, want ErrTimeout after the response, with the request's number", res, err)
	}
	free(7)
	want := fmt.Sprintf("%s/7 seq=%d holds=1", owner.ID(), res.Seq)
	waitFor(t, 2*time.Second, "the late done reaches the handler", func() bool {
		hh.mu.Lock()
		defer hh.mu.Unlock()
		return len(hh.lateDones) == 1 && hh.lateDones[0] == want
	})
	if got, _, _, _ := hh.snapshot(); len(got) != 1 {
		t.Fatalf("delivered %q, want the response once", got)
	}

	// Given up on, then its owner lost: its done, when it comes, tells nothing.
	if _, err := home.Forward(context.Background(), owner.ID(), 8, 0, []byte("join")); !errors.Is(err, cluster.ErrTimeout) {
		t.Fatalf("forward: %v, want ErrTimeout", err)
	}
	cluster.DeclareAllDead(home)
	free(8)
	time.Sleep(300 * time.Millisecond) // the done's way back
	hh.mu.Lock()
	defer hh.mu.Unlock()
	if len(hh.lateDones) != 1 {
		t.Fatalf("late dones %q, want none after the owner was lost", hh.lateDones)
	}
}

func TestClosedConnectionReachesOwner(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	home, _ := startNode(t, url)
	owner, oh := startNode(t, url)
	if err := home.ConnClosed(owner.ID(), 42); err != nil {
		t.Fatal(err)
	}
	want := home.ID().String() + "/42"
	waitFor(t, 2*time.Second, "owner told of the closed connection", func() bool {
		_, closed, _, _ := oh.snapshot()
		return len(closed) == 1 && closed[0] == want
	})
}

func TestNodeThatLeavesIsLostAtOnce(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	a, ah := startNode(t, url, func(c *cluster.Config) { c.DeadAfter = 10 * time.Second })
	b, _ := startNode(t, url)
	waitFor(t, 2*time.Second, "a sees b", func() bool { return len(a.Status().Peers) == 1 })
	b.Close()
	waitFor(t, time.Second, "a loses b on its goodbye, long before dead-after", func() bool {
		_, _, lost, _ := ah.snapshot()
		return len(lost) == 1 && strings.HasPrefix(lost[0], b.ID().String()+" left")
	})
	if _, err := a.Forward(context.Background(), b.ID(), 1, 0, []byte("x")); !errors.Is(err, cluster.ErrOwnerLost) {
		t.Fatalf("forward to a node that left: err = %v, want ErrOwnerLost", err)
	}
}

func TestSilentNodeIsDeclaredDeadWithinBound(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	const heartbeat, deadAfter = 50 * time.Millisecond, 300 * time.Millisecond
	quick := func(c *cluster.Config) { c.Heartbeat, c.DeadAfter = heartbeat, deadAfter }
	a, ah := startNode(t, url, quick)
	b, bh := startNode(t, url, quick)
	waitFor(t, 2*time.Second, "a sees b", func() bool { return len(a.Status().Peers) == 1 })
	// b hangs in its requests: a's forwarded request waits, then fails when b is declared dead.
	bh.execute = func(*cluster.Request) { select {} }
	cluster.Crash(b) // no goodbye: the link just stops
	start := time.Now()
	_, err := a.Forward(context.Background(), b.ID(), 1, 0, []byte("x"))
	if err == nil {
		t.Fatal("forward to a crashed node succeeded")
	}
	// The bound is DeadAfter + Heartbeat; the slack is for a loaded CI machine.
	bound := deadAfter + heartbeat + time.Second
	waitFor(t, bound, "a declares b dead", func() bool {
		_, _, lost, _ := ah.snapshot()
		return len(lost) == 1 && strings.HasPrefix(lost[0], b.ID().String()+" no heartbeat")
	})
	if d := time.Since(start); d > bound {
		t.Fatalf("b declared dead after %s, bound %s", d, bound)
	}
}

func TestNodeDeclaredDeadButAliveStartsAnew(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	a, ah := startNode(t, url)
	b, bh := startNode(t, url)
	waitFor(t, 2*time.Second, "a sees b", func() bool { return len(a.Status().Peers) == 1 })
	cluster.DeclareAllDead(a) // as if b's heartbeats had been lost on the way to a only
	waitFor(t, 2*time.Second, "b, still talking, is reset and drops its cross-node memberships", func() bool {
		_, _, _, linkLost := bh.snapshot()
		return len(linkLost) == 1 && strings.Contains(linkLost[0], "declared dead by node "+a.ID().String())
	})
	waitFor(t, 2*time.Second, "a admits b's new incarnation", func() bool { return len(a.Status().Peers) == 1 })
	_, _, lost, _ := ah.snapshot()
	if len(lost) != 1 {
		t.Fatalf("a lost %q, want b once", lost)
	}
	echoOwner(bh, b, nil)
	if _, err := a.Forward(context.Background(), b.ID(), 1, 0, []byte("x")); err != nil {
		t.Fatalf("forward to b's new incarnation: %v", err)
	}
}

func TestNATSRestart(t *testing.T) {
	srv := natstest.Server(t)
	a, ah := startNode(t, srv.ClientURL())
	b, bh := startNode(t, srv.ClientURL())
	echoOwner(bh, b, nil)
	if _, err := a.Forward(context.Background(), b.ID(), 1, 0, []byte("before")); err != nil {
		t.Fatal(err)
	}
	srv.Shutdown()
	waitFor(t, 2*time.Second, "both nodes drop their cross-node memberships", func() bool {
		_, _, _, al := ah.snapshot()
		_, _, _, bl := bh.snapshot()
		return len(al) == 1 && len(bl) == 1
	})
	start := time.Now()
	if _, err := a.Forward(context.Background(), b.ID(), 1, 0, []byte("during")); !errors.Is(err, cluster.ErrLinkDown) {
		t.Fatalf("forward while NATS is down: err = %v, want ErrLinkDown", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("forward while NATS is down took %s, want an immediate error", d)
	}
	natstest.Restart(t, srv)
	waitFor(t, 10*time.Second, "both reconnect", func() bool { return a.Connected() && b.Connected() })
	waitFor(t, 5*time.Second, "forward works again", func() bool {
		_, err := a.Forward(context.Background(), b.ID(), 1, 0, []byte("after"))
		return err == nil
	})
}

func TestSmallMaxPayloadIsRefused(t *testing.T) {
	s, err := cluster.StartNATS(cluster.ServerConfig{Addr: "127.0.0.1:0", MaxPayload: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	cfg := fast
	cfg.URL, cfg.MaxFrameBytes = s.ClientURL(), 16<<20
	n, err := cluster.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = n.Start(newRecorder())
	if err == nil || !strings.Contains(err.Error(), "max_payload") {
		t.Fatalf("err = %v, want a max_payload error", err)
	}
}

// Start checks max_payload, but a reconnect may land on a NATS server that takes less (here: the
// server restarted with a smaller max_payload). A message over it is ErrTooLarge, with the sizes,
// not "link down": the link is up.
func TestMessageOverMaxPayloadAfterReconnect(t *testing.T) {
	srv := natstest.Server(t)
	a, _ := startNode(t, srv.ClientURL(), func(c *cluster.Config) { c.MaxFrameBytes = 1 << 20 })
	srv.Shutdown()
	natstest.Restart(t, srv, func(c *cluster.ServerConfig) { c.MaxPayload = 64 << 10 })
	waitFor(t, 10*time.Second, "the node reconnects", a.Connected)
	frame := make([]byte, 100<<10)
	_, err := a.Forward(context.Background(), cluster.NodeID(0xdeadbeef), 1, 0, frame)
	if !errors.Is(err, cluster.ErrTooLarge) || errors.Is(err, cluster.ErrLinkDown) || !strings.Contains(err.Error(), "max_payload") {
		t.Fatalf("forward of 100 KiB through a 64 KiB max_payload: err = %v, want ErrTooLarge naming max_payload", err)
	}
	if err := a.Deliver(cluster.NodeID(0xdeadbeef), []uint64{1}, frame); !errors.Is(err, cluster.ErrTooLarge) {
		t.Fatalf("deliver of 100 KiB through a 64 KiB max_payload: err = %v, want ErrTooLarge", err)
	}
	if !a.Connected() {
		t.Fatal("the link should still be up")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  cluster.Config
		want string
	}{
		{cluster.Config{Name: "x"}, "no NATS URL"},
		{cluster.Config{URL: "nats://x", Name: "a.b"}, "cluster name"},
		{cluster.Config{URL: "nats://x", Name: ""}, "cluster name"},
		{cluster.Config{URL: "nats://x", Name: "x", TLSCertFile: "c"}, "certificate and a key"},
		{cluster.Config{URL: "nats://x", Name: "x", Heartbeat: time.Second, DeadAfter: time.Second}, "two heartbeats"},
	} {
		if _, err := cluster.New(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) = %v, want error containing %q", c.cfg, err, c.want)
		}
	}
}

// Requests begun one after another towards one owner are run and answered in that order, each
// response before its event, without waiting for each other (what the relay pipelines).
func TestBegunRequestsKeepTheirOrder(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	home, hh := startNode(t, url)
	owner, oh := startNode(t, url)
	echoOwner(oh, owner, nil)
	var pds []*cluster.Pending
	for i := range 100 {
		pds = append(pds, home.Begin(owner.ID(), 7, 0, []byte(fmt.Sprintf("req%d", i))))
	}
	for i, pd := range pds {
		if res, err := pd.Wait(context.Background()); err != nil || !res.Responded {
			t.Fatalf("request %d: %+v %v", i, res, err)
		}
	}
	got, _, _, _ := hh.snapshot()
	if len(got) != 200 {
		t.Fatalf("delivered %d frames, want 200", len(got))
	}
	for i := range 100 {
		if got[2*i] != fmt.Sprintf("7:resp:req%d", i) || got[2*i+1] != fmt.Sprintf("107:ev:req%d", i) {
			t.Fatalf("frames %d-%d = %q %q, want response then event of request %d", 2*i, 2*i+1, got[2*i], got[2*i+1], i)
		}
	}
}
