package cluster_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"mpcrelay/relay/cluster"
	"mpcrelay/relay/cluster/natstest"
)

// Replies are checked against their owner's incarnation like every other message. An owner
// that restarted its link (a new epoch) dropped every membership of its earlier life; here a
// plain NATS client plays it. A done of its new life is the first the home node hears of the
// restart: the restart is handled first (NodeLost), then the done counts. A late done of its
// earlier life, coming after that, settles nothing (LateDone is not called).
func TestRepliesAreCheckedAgainstTheOwnersEpoch(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	// Request 1 must time out; requests 2 and 3 must not: a bound a loaded machine cannot trip.
	home, hh := startNode(t, url, func(c *cluster.Config) { c.RequestTimeout = 2 * time.Second })
	const owner = fakeOwnerID
	// epoch is of the heartbeats; the replies below say the owner's new one first.
	nc, requests, epoch := fakeOwner(t, url, home)
	next := func() *nats.Msg {
		t.Helper()
		m, err := requests.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	// Request 1 of connection 7 runs in the owner's first life, slowly: its wait gives up.
	res1, err := home.Forward(context.Background(), owner, 7, 0, []byte("join g1"))
	if !errors.Is(err, cluster.ErrTimeout) {
		t.Fatalf("request 1: %+v %v, want ErrTimeout", res1, err)
	}
	r1 := next()
	// The owner restarts its link (epoch 2) and runs request 2 of connection 8.
	go func() {
		r2 := next()
		_ = nc.Publish(r2.Reply, cluster.DoneMessage(owner, 2, 1))
	}()
	res2, err := home.Forward(context.Background(), owner, 8, 0, []byte("join g2"))
	if err != nil || res2.Holds != 1 {
		t.Fatalf("request 2: %+v %v, want its done (holds 1)", res2, err)
	}
	_, _, lost, _ := hh.snapshot()
	if len(lost) != 1 || !strings.Contains(lost[0], "restarted") {
		t.Fatalf("nodes lost when request 2's done came: %q, want the owner's restart handled first", lost)
	}
	epoch.Store(2)
	// Request 1's done, of the owner's first life, comes late.
	if err := nc.Publish(r1.Reply, cluster.DoneMessage(owner, 1, 1)); err != nil {
		t.Fatal(err)
	}
	// Request 3's done follows it on the same way: once request 3 is answered, request 1's done
	// was handled.
	go func() {
		r3 := next()
		_ = nc.Publish(r3.Reply, cluster.DoneMessage(owner, 2, 2))
	}()
	if res3, err := home.Forward(context.Background(), owner, 9, 0, []byte("join g3")); err != nil || res3.Holds != 2 {
		t.Fatalf("request 3: %+v %v, want its done (holds 2)", res3, err)
	}
	hh.mu.Lock()
	defer hh.mu.Unlock()
	if len(hh.lateDones) != 0 {
		t.Fatalf("late dones %q, want none: the owner's restart voided what request 1 did", hh.lateDones)
	}
}

// Requests given up on at an owner that then restarted are forgotten soon after (twice the
// request bound): its old life's dones are void and may never come (published while it was cut
// off), and its new life runs what reaches it at once. Otherwise a connection whose backlog at
// that owner was full (64 given up on) could never send it a request again.
func TestGivenUpRequestsOfAnOwnersOldLifeAreForgotten(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	const timeout = 300 * time.Millisecond
	home, _ := startNode(t, url, func(c *cluster.Config) { c.RequestTimeout = timeout })
	const owner = fakeOwnerID
	nc, requests, epoch := fakeOwner(t, url, home)
	// Connection 7 gives up on 64 requests that the owner's first life never finishes.
	errs := make(chan error, cluster.MaxGivenUp)
	for range cluster.MaxGivenUp {
		go func() {
			_, err := home.Forward(context.Background(), owner, 7, 0, []byte("x"))
			errs <- err
		}()
	}
	for range cluster.MaxGivenUp {
		if err := <-errs; !errors.Is(err, cluster.ErrTimeout) {
			t.Fatalf("forward: %v, want ErrTimeout", err)
		}
	}
	if _, err := home.Forward(context.Background(), owner, 7, 0, []byte("x")); !errors.Is(err, cluster.ErrBacklog) {
		t.Fatalf("forward past the backlog: %v, want ErrBacklog", err)
	}
	// The owner restarts its link (epoch 2): the requests it had are lost with its old life.
	restarted := time.Now()
	epoch.Store(2)
	for { // its new life answers what reaches it
		done := make(chan error, 1)
		go func() {
			_, err := home.Forward(context.Background(), owner, 7, 0, []byte("y"))
			done <- err
		}()
		m, err := requests.NextMsg(timeout)
		for err == nil && string(m.Data[len(m.Data)-1:]) != "y" { // the 65 requests above
			m, err = requests.NextMsg(timeout)
		}
		if err == nil {
			_ = nc.Publish(m.Reply, cluster.DoneMessage(owner, 2, 0))
		}
		if err := <-done; err == nil {
			break
		} else if !errors.Is(err, cluster.ErrBacklog) && !errors.Is(err, cluster.ErrTimeout) {
			t.Fatalf("forward after the restart: %v", err)
		}
		if d := time.Since(restarted); d > 2*timeout+5*time.Second {
			t.Fatalf("the backlog of the owner's old life still refuses requests %s after its restart", d)
		}
	}
}

// beat publishes heartbeats of node in incarnation *epoch every 50 ms until the test ends, as a
// live node does (the home node gives up a node silent for 2 s).
func beat(t *testing.T, nc *nats.Conn, node cluster.NodeID, epoch *atomic.Uint64) {
	stop := make(chan struct{})
	done := make(chan struct{})
	t.Cleanup(func() { close(stop); <-done })
	go func() {
		defer close(done)
		for {
			_ = nc.Publish(cluster.HeartbeatSubject(fast.Name), cluster.HeartbeatMessage(node, epoch.Load()))
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
}

// A request sent while its owner had restarted unseen (the home node still knew its earlier
// incarnation) may be run by the owner's new one, however slowly: its done counts whenever it
// comes (§6.1: it may say the connection is a member there). The restart only stops counting
// it in the connection's backlog. Forgotten a while after the restart was seen, its late done
// was dropped: the home node never booked the membership, so the owner was never told when
// the connection closed, and kept it in its group for good.
func TestGivenUpRequestOfAnOwnersNewLifeCountsLate(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	const timeout = 300 * time.Millisecond
	home, hh := startNode(t, url, func(c *cluster.Config) { c.RequestTimeout = timeout })
	nc, requests, epoch := fakeOwner(t, url, home)
	// The owner has restarted (its new life will run request 1); the home node does not know yet.
	if _, err := home.Forward(context.Background(), fakeOwnerID, 7, 0, []byte("join")); !errors.Is(err, cluster.ErrTimeout) {
		t.Fatalf("forward: %v, want ErrTimeout", err)
	}
	r1, err := requests.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	epoch.Store(2) // its heartbeats tell the home node now
	waitFor(t, 5*time.Second, "the home node handles the owner's restart", func() bool {
		_, _, lost, _ := hh.snapshot()
		return len(lost) == 1
	})
	// Well past twice the request bound after the restart was seen (the home node's heartbeat
	// loop, every 50 ms, used to forget the request then).
	time.Sleep(4 * timeout)
	if got := home.AwaitingDones(7); len(got) != 1 || got[0] != fakeOwnerID {
		t.Fatalf("owners awaited by connection 7: %v, want the owner (told if it closes)", got)
	}
	if err := nc.Publish(r1.Reply, cluster.DoneMessage(fakeOwnerID, 2, 1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the late done of the owner's new life reaches the handler", func() bool {
		hh.mu.Lock()
		defer hh.mu.Unlock()
		return len(hh.lateDones) == 1
	})
	if got := home.AwaitingDones(7); len(got) != 0 {
		t.Fatalf("owners awaited by connection 7 after the done: %v, want none", got)
	}
}

// fakeOwnerID is the node a plain NATS client plays (fakeOwner).
const fakeOwnerID = cluster.NodeID(0x0badcafe)

// fakeOwner has a plain NATS client play node fakeOwnerID, known to home: it receives the
// requests for its groups and heartbeats in the incarnation epoch holds (1 at first).
func fakeOwner(t *testing.T, url string, home *cluster.Node) (*nats.Conn, *nats.Subscription, *atomic.Uint64) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	requests, err := nc.SubscribeSync(cluster.RequestSubject(fast.Name, fakeOwnerID))
	if err != nil {
		t.Fatal(err)
	}
	epoch := new(atomic.Uint64)
	epoch.Store(1)
	beat(t, nc, fakeOwnerID, epoch)
	waitFor(t, 5*time.Second, "the home node knows the owner", func() bool { return len(home.Status().Peers) == 1 })
	return nc, requests, epoch
}

// A reply of an owner's incarnation that the home node has already seen end (its restart's
// heartbeat came first: heartbeats and replies travel on different subscriptions) fails its
// request with ErrOwnerRestarted: the group lives on with the owner's new life, so the caller
// must not be told that the owner left the cluster (ErrOwnerLost, as it was).
func TestReplyOfAnEndedLifeIsOwnerRestarted(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	home, hh := startNode(t, url) // requests wait 10 s: the reply below comes long before
	nc, requests, epoch := fakeOwner(t, url, home)
	pd := home.Begin(fakeOwnerID, 7, 0, []byte("join"))
	r1, err := requests.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	epoch.Store(2)
	waitFor(t, 5*time.Second, "the home node handles the owner's restart", func() bool {
		_, _, lost, _ := hh.snapshot()
		return len(lost) == 1
	})
	if err := nc.Publish(r1.Reply, cluster.DoneMessage(fakeOwnerID, 1, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := pd.Wait(context.Background()); !errors.Is(err, cluster.ErrOwnerRestarted) {
		t.Fatalf("request answered by the owner's ended life: %v, want ErrOwnerRestarted", err)
	}
}
