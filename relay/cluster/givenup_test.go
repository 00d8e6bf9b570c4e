package cluster_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

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
