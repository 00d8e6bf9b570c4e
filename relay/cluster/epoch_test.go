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
	const owner = cluster.NodeID(0x0badcafe)
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	requests, err := nc.SubscribeSync(cluster.RequestSubject(fast.Name, owner))
	if err != nil {
		t.Fatal(err)
	}
	var epoch atomic.Uint64 // of the heartbeats; the replies below say the owner's new one first
	epoch.Store(1)
	beat(t, nc, owner, &epoch)
	waitFor(t, 5*time.Second, "the home node knows the owner", func() bool { return len(home.Status().Peers) == 1 })
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
	const owner = cluster.NodeID(0x0badcafe)
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	requests, err := nc.SubscribeSync(cluster.RequestSubject(fast.Name, owner))
	if err != nil {
		t.Fatal(err)
	}
	var epoch atomic.Uint64
	epoch.Store(1)
	beat(t, nc, owner, &epoch)
	waitFor(t, 5*time.Second, "the home node knows the owner", func() bool { return len(home.Status().Peers) == 1 })
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
