package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"mpcrelay/relay/cluster"
	"mpcrelay/relay/cluster/natstest"
)

// A request given up on is kept until its done comes, its owner or the link is lost — or its
// connection closes: once the owner is told so (ConnClosed, which it runs after the
// connection's requests), the done could tell nothing, and the request is forgotten.
func TestGivenUpRequestIsForgottenWhenItsConnectionCloses(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	// Connection 7's request must time out; connection 8's must not: a bound a loaded machine
	// cannot trip.
	home, hh := startNode(t, url, func(c *cluster.Config) { c.RequestTimeout = time.Second })
	owner, oh := startNode(t, url)
	held := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(held) }) }
	t.Cleanup(free)
	oh.execute = func(r *cluster.Request) {
		<-held
		r.Holds = 1
	}
	if _, err := home.Forward(context.Background(), owner.ID(), 7, 0, []byte("join")); !errors.Is(err, cluster.ErrTimeout) {
		t.Fatalf("forward: %v, want ErrTimeout", err)
	}
	if err := home.ConnClosed(owner.ID(), 7); err != nil {
		t.Fatal(err)
	}
	free()
	want := home.ID().String() + "/7"
	waitFor(t, 2*time.Second, "owner told of the closed connection", func() bool {
		_, closed, _, _ := oh.snapshot()
		return len(closed) == 1 && closed[0] == want
	})
	// The done went out before the closed notice ran; one more round trip to the owner is
	// answered after it.
	oh.mu.Lock()
	oh.execute = nil
	oh.mu.Unlock()
	if _, err := home.Forward(context.Background(), owner.ID(), 8, 0, []byte("x")); err != nil {
		t.Fatal(err)
	}
	hh.mu.Lock()
	defer hh.mu.Unlock()
	if len(hh.lateDones) != 0 {
		t.Fatalf("late dones %q, want none: the request was forgotten when its connection closed", hh.lateDones)
	}
}

// begunGivenUp has connection conn of home begin k requests to owner one after the other (as
// its read pump does) and waits until each is given up on (the owner never answers them).
func begunGivenUp(t *testing.T, home *cluster.Node, owner cluster.NodeID, conn uint64, k int) {
	t.Helper()
	pds := make([]*cluster.Pending, k)
	for i := range pds {
		pds[i] = home.Begin(owner, conn, 0, []byte("lost"))
	}
	for i, pd := range pds {
		if _, err := pd.Wait(context.Background()); !errors.Is(err, cluster.ErrTimeout) {
			t.Fatalf("request %d: %v, want ErrTimeout", i, err)
		}
	}
}

// answerY has owner (a plain NATS client on requests) answer every request whose frame is "y"
// with a done of its incarnation 1, until the test ends.
func answerY(t *testing.T, nc *nats.Conn, requests *nats.Subscription, owner cluster.NodeID) {
	stop := make(chan struct{})
	done := make(chan struct{})
	t.Cleanup(func() { close(stop); <-done })
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			m, err := requests.NextMsg(50 * time.Millisecond)
			if err == nil && len(m.Data) > 0 && m.Data[len(m.Data)-1] == 'y' {
				_ = nc.Publish(m.Reply, cluster.DoneMessage(owner, 1, 0))
			}
		}
	}()
}

// An owner runs one connection's requests in the order they were sent, and its dones come in
// that order: a done settles every earlier request of that connection given up on whose done
// has not come — NATS lost it (or the request), and it never will. They stayed counted in the
// connection's backlog and awaited until the connection closed: a connection that lost 64 dones
// to one owner, over any time, could never send it a request again.
func TestDoneSettlesEarlierRequestsGivenUp(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	home, hh := startNode(t, url, func(c *cluster.Config) { c.RequestTimeout = 300 * time.Millisecond })
	nc, requests, _ := fakeOwner(t, url, home)
	begunGivenUp(t, home, fakeOwnerID, 7, 10)
	begunGivenUp(t, home, fakeOwnerID, 8, 1) // another connection's: still awaited after
	answerY(t, nc, requests, fakeOwnerID)
	var err error
	// 300 ms each: a loaded machine may need a retry, and the done of a "y" that timed out then
	// comes late (LateDone, allowed below).
	retried := map[string]bool{}
	for deadline := time.Now().Add(10 * time.Second); ; {
		var res cluster.Result
		if res, err = home.Forward(context.Background(), fakeOwnerID, 7, 0, []byte("y")); err == nil || time.Now().After(deadline) {
			break
		}
		retried[fmt.Sprintf("%s/7 seq=%d holds=0", fakeOwnerID, res.Seq)] = true
	}
	if err != nil {
		t.Fatalf("connection 7's answered request: %v", err)
	}
	if got := home.AwaitingDones(7); len(got) != 0 {
		t.Fatalf("owners awaited by connection 7 after a later request's done: %v, want none", got)
	}
	if got := home.AwaitingDones(8); len(got) != 1 {
		t.Fatalf("owners awaited by connection 8: %v, want the owner (its own request's done has not come)", got)
	}
	hh.mu.Lock()
	defer hh.mu.Unlock()
	for _, d := range hh.lateDones {
		if !retried[d] {
			t.Fatalf("late dones %q, want none but of the retried requests %v", hh.lateDones, retried)
		}
	}
}

// A backlog full of requests whose dones NATS lost, with no restart of their owner (nothing the
// connection sends reaches the owner to bring a later done: it is refused at once), clears in
// time: a request given up on stops counting ten request bounds after it was sent. It refused
// the connection for good.
func TestFullBacklogOfLostDonesClears(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	const timeout = 300 * time.Millisecond
	home, _ := startNode(t, url, func(c *cluster.Config) { c.RequestTimeout = timeout })
	nc, requests, _ := fakeOwner(t, url, home)
	start := fullBacklog(t, home, 7)
	answerY(t, nc, requests, fakeOwnerID)
	untilForwarded(t, home, 7, start.Add(10*timeout+10*time.Second), "the backlog of lost dones still refuses requests")
	if got := home.AwaitingDones(7); len(got) != 0 {
		t.Fatalf("owners awaited by connection 7 after its request's done: %v, want none", got)
	}
}

// Requests sent before the home node ever heard from their owner carry no epoch of it: once it
// is heard from, they count like requests of an ended life (its first heartbeat says nothing of
// the life that got them, which may have restarted since). They never stopped counting, so 64
// of them refused the connection for good.
func TestGivenUpRequestsSentBeforeTheOwnerWasHeardAreForgotten(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	// The restart rule's two bounds (2 s) are well apart from the lost-done rule's ten (10 s).
	const timeout = time.Second
	home, _ := startNode(t, url, func(c *cluster.Config) { c.RequestTimeout = timeout })
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	requests, err := nc.SubscribeSync(cluster.RequestSubject(fast.Name, fakeOwnerID))
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	start := fullBacklog(t, home, 7) // the owner is not heard from yet
	epoch := new(atomic.Uint64)
	epoch.Store(1)
	beat(t, nc, fakeOwnerID, epoch)
	answerY(t, nc, requests, fakeOwnerID)
	untilForwarded(t, home, 7, start.Add(2*timeout+5*time.Second), "requests sent before the owner was heard from still refuse the connection")
}

// fullBacklog has connection conn of home give up on MaxGivenUp requests to fakeOwnerID, which
// never answers them, and checks that its next one is refused. It returns when it began.
func fullBacklog(t *testing.T, home *cluster.Node, conn uint64) (start time.Time) {
	t.Helper()
	start = time.Now()
	begunGivenUp(t, home, fakeOwnerID, conn, cluster.MaxGivenUp)
	if _, err := home.Forward(context.Background(), fakeOwnerID, conn, 0, []byte("y")); !errors.Is(err, cluster.ErrBacklog) {
		t.Fatalf("forward past the backlog: %v, want ErrBacklog", err)
	}
	return start
}

// untilForwarded forwards requests "y" of connection conn of home to fakeOwnerID until one is
// answered (answerY); past deadline, it fails with what.
func untilForwarded(t *testing.T, home *cluster.Node, conn uint64, deadline time.Time, what string) {
	t.Helper()
	for {
		_, err := home.Forward(context.Background(), fakeOwnerID, conn, 0, []byte("y"))
		if err == nil {
			return
		}
		if !errors.Is(err, cluster.ErrBacklog) && !errors.Is(err, cluster.ErrTimeout) {
			t.Fatalf("forward: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A request given up on is kept for its done, but its response (Result.Response, read by the
// relay when Wait returns) is not: kept, every answered request of an owner slow to finish held
// a whole frame until its done came — beyond the backlog's bounds, which count the requests'
// bytes.
func TestGivenUpRequestKeepsNoResponse(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	home, _ := startNode(t, url, func(c *cluster.Config) { c.RequestTimeout = 300 * time.Millisecond })
	nc, requests, _ := fakeOwner(t, url, home)
	pd := home.Begin(fakeOwnerID, 7, 0, []byte("join"))
	r, err := requests.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish(r.Reply, cluster.ResponseMessage(fakeOwnerID, 1, []byte(`{"jsonrpc":"2.0","id":1,"result":"x"}`))); err != nil {
		t.Fatal(err)
	}
	res, err := pd.Wait(context.Background()) // its done never comes
	if !errors.Is(err, cluster.ErrTimeout) || !res.Responded || res.Response == nil {
		t.Fatalf("Wait: responded %v, response %q, %v; want the response and ErrTimeout", res.Responded, res.Response, err)
	}
	if got := home.AwaitingDones(7); len(got) != 1 {
		t.Fatalf("owners awaited by connection 7: %v, want the owner", got)
	}
	if k := cluster.KeptResponses(home); k != 0 {
		t.Fatalf("responses kept with requests given up on: %d, want none", k)
	}
}
