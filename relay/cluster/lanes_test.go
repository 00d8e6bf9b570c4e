package cluster_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"mpcrelay/relay/cluster"
	"mpcrelay/relay/cluster/natstest"
)

// The owner runs the requests of different connections at once (one lane per connection), and
// one connection's requests, then the notice that it closed, one at a time in arrival order.

// A request held up at the owner (by its group, say) does not hold up another connection's:
// connection 1's request waits until connection 2's has run. An owner running requests one at a
// time never runs connection 2's, and both time out.
func TestSlowConnectionDoesNotHoldUpOthers(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	home, _ := startNode(t, url)
	owner, oh := startNode(t, url)
	started, ran := make(chan struct{}), make(chan struct{})
	oh.execute = func(r *cluster.Request) {
		switch r.Conn {
		case 1:
			close(started)
			<-ran
		case 2:
			close(ran)
		}
		r.Respond([]byte("ok"))
	}
	first := home.Begin(owner.ID(), 1, 0, []byte("held"))
	<-started
	if res, err := home.Forward(context.Background(), owner.ID(), 2, 0, []byte("other")); err != nil || !res.Responded {
		t.Fatalf("connection 2's request beside connection 1's held one: %+v %v", res, err)
	}
	if res, err := first.Wait(context.Background()); err != nil || !res.Responded {
		t.Fatalf("connection 1's request once connection 2's ran: %+v %v", res, err)
	}
}

// Requests of several connections begun at once: each connection's run one at a time, in the
// order begun, and are answered in that order; and the lanes did run side by side.
func TestEachConnectionsRequestsRunInOrderOneAtATime(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	home, hh := startNode(t, url)
	owner, oh := startNode(t, url)
	const conns, each = 8, 50
	var mu sync.Mutex
	running := map[uint64]bool{}
	ran := map[uint64][]string{}
	overlap, most, now := "", 0, 0
	oh.execute = func(r *cluster.Request) {
		mu.Lock()
		if running[r.Conn] {
			overlap = fmt.Sprintf("two requests of connection %d at once", r.Conn)
		}
		running[r.Conn] = true
		now++
		most = max(most, now)
		ran[r.Conn] = append(ran[r.Conn], string(r.Frame))
		mu.Unlock()
		time.Sleep(50 * time.Microsecond) // a request that takes a moment, so that lanes meet
		mu.Lock()
		running[r.Conn] = false
		now--
		mu.Unlock()
		r.Respond([]byte("resp:" + string(r.Frame)))
	}
	var pds []*cluster.Pending
	for i := range each {
		for c := range uint64(conns) {
			pds = append(pds, home.Begin(owner.ID(), c, 0, []byte(fmt.Sprintf("c%d-%d", c, i))))
		}
	}
	for i, pd := range pds {
		if res, err := pd.Wait(context.Background()); err != nil || !res.Responded {
			t.Fatalf("request %d: %+v %v", i, res, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if overlap != "" {
		t.Fatal(overlap)
	}
	for c := range uint64(conns) {
		for i, f := range ran[c] {
			if want := fmt.Sprintf("c%d-%d", c, i); f != want {
				t.Fatalf("connection %d's request %d ran as %q, want %q (arrival order)", c, i, f, want)
			}
		}
		if len(ran[c]) != each {
			t.Fatalf("connection %d: %d requests ran, want %d", c, len(ran[c]), each)
		}
	}
	got, _, _, _ := hh.snapshot()
	for c := range uint64(conns) {
		var resps []string
		for _, d := range got {
			var conn uint64
			var frame string
			if _, err := fmt.Sscanf(d, "%d:%s", &conn, &frame); err == nil && conn == c {
				resps = append(resps, frame)
			}
		}
		want := make([]string, each)
		for i := range want {
			want[i] = fmt.Sprintf("resp:c%d-%d", c, i)
		}
		if !slices.Equal(resps, want) {
			t.Fatalf("connection %d's responses %q, want them in request order", c, resps)
		}
	}
	if most < 2 {
		t.Fatalf("at most %d requests ran at once: the owner ran the connections one after another", most)
	}
}

// The notice that a connection closed runs after the connection's requests that came before
// it, even while one of them is held up at the owner.
func TestClosedNoticeWaitsForTheConnectionsRequests(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	home, _ := startNode(t, url)
	owner, oh := startNode(t, url)
	started, release := make(chan struct{}), make(chan struct{})
	oh.execute = func(r *cluster.Request) {
		if r.Conn == 5 {
			close(started)
			<-release
		}
		r.Respond([]byte("ok"))
	}
	held := home.Begin(owner.ID(), 5, 0, []byte("held"))
	<-started
	if err := home.ConnClosed(owner.ID(), 5); err != nil {
		t.Fatal(err)
	}
	// A later message from the same node has been handled, so the notice reached the owner.
	if _, err := home.Forward(context.Background(), owner.ID(), 6, 0, []byte("later")); err != nil {
		t.Fatal(err)
	}
	_, closed, _, _ := oh.snapshot()
	if len(closed) != 0 {
		t.Fatalf("connection 5's closed notice ran while its request was still running: %q", closed)
	}
	close(release)
	if _, err := held.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "the closed notice runs once the request is done", func() bool {
		_, closed, _, _ := oh.snapshot()
		return len(closed) == 1
	})
}
