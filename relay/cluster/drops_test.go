package cluster_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"mpcrelay/relay/cluster"
	"mpcrelay/relay/cluster/natstest"
)

// logBuffer collects a node's logs.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) has(s string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Contains(b.buf.String(), s)
}

// A node's subscriptions hold a bounded number of messages received and not yet handled (NATS
// pending limits): a node that cannot keep up — here its delivery goroutine is stuck — drops
// what comes past the bound instead of buffering everything sent to it. What it dropped may be
// events for its connections, replies or notices, and it cannot tell which: as one relay drops
// a client that cannot keep up (§6.2), it counts that as the loss of its link. Before anything
// that came after the gap is handled, every cross-node membership ends (LinkLost; the relay
// closes its members of other nodes' groups, 4002), and the other nodes drop their side when
// they hear its new epoch. Before, nothing was bounded and nothing was dropped.
func TestSlowNodeDropsMessagesAndLosesItsLink(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	slow := func(c *cluster.Config) { c.Heartbeat, c.DeadAfter = 200*time.Millisecond, time.Minute } // nobody is declared dead here
	logs := &logBuffer{}
	home, hh := startNode(t, url, slow, func(c *cluster.Config) { c.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
	owner, oh := startNode(t, url, slow)
	waitFor(t, 5*time.Second, "the nodes hear each other", func() bool {
		return len(home.Status().Peers) == 1 && len(owner.Status().Peers) == 1
	})
	gate := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(gate) }) }
	t.Cleanup(open)
	hh.mu.Lock()
	hh.gate = func() { <-gate }
	hh.mu.Unlock()
	// More events for connection 1 of the home node than its bound holds (65,536 messages).
	const events = 80_000
	for i := range events {
		if err := owner.Deliver(home.ID(), []uint64{1}, fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 30*time.Second, "the home node drops what it cannot hold", func() bool { return logs.has("NATS dropped") })
	open()
	waitFor(t, 10*time.Second, "the home node loses its link", func() bool {
		_, _, _, linkLost := hh.snapshot()
		return len(linkLost) > 0
	})
	hh.mu.Lock()
	at, reason := hh.lostAt[0], hh.linkLost[0]
	for i, d := range hh.delivered[:at] {
		if d != fmt.Sprintf("1:%d", i) {
			hh.mu.Unlock()
			t.Fatalf("delivered before the link was lost: %q at %d, want the events in order with no gap", d, i)
		}
	}
	hh.mu.Unlock()
	if !strings.Contains(reason, "dropped") {
		t.Fatalf("link lost for %q, want the dropped messages", reason)
	}
	waitFor(t, 10*time.Second, "the owner drops the home node's side", func() bool {
		_, _, lost, _ := oh.snapshot()
		return len(lost) > 0 && strings.Contains(lost[0], "restarted")
	})
	t.Logf("%d events handed out before the link was lost", at)
}

// Heartbeats carry the cluster protocol's version. A node of version 1 (its heartbeats carry
// none) ignores the messages added since, so a mixed cluster is logged, naming the node, once:
// an operator in the middle of a rolling upgrade sees it. A node of this version is not.
func TestMixedProtocolVersionsAreLogged(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	logs := &logBuffer{}
	home, _ := startNode(t, url, func(c *cluster.Config) { c.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
	fakeOwner(t, url, home) // heartbeats of version 1
	waitFor(t, 5*time.Second, "the version-1 node logged", func() bool {
		return logs.has("peer="+fakeOwnerID.String()) && logs.has("peer_protocol=1")
	})
	startNode(t, url)
	waitFor(t, 5*time.Second, "the home node hears the other node", func() bool { return len(home.Status().Peers) == 2 })
	time.Sleep(500 * time.Millisecond) // ten more heartbeats of each
	logs.mu.Lock()
	defer logs.mu.Unlock()
	if k := strings.Count(logs.buf.String(), "another cluster protocol"); k != 1 {
		t.Fatalf("mixed versions logged %d times, want once (for the version-1 node only):\n%s", k, logs.buf.String())
	}
}

// holdFirst is a log handler that holds the first record whose message contains what until
// release is called (without holding anything other records need), and keeps the rest.
type holdFirst struct {
	what    string
	held    chan struct{} // closed once that record is being held
	release chan struct{}
	once    sync.Once
}

func (h *holdFirst) Enabled(context.Context, slog.Level) bool { return true }
func (h *holdFirst) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *holdFirst) WithGroup(string) slog.Handler            { return h }
func (h *holdFirst) Handle(_ context.Context, r slog.Record) error {
	if !strings.Contains(r.Message, h.what) {
		return nil
	}
	first := false
	h.once.Do(func() { first = true })
	if first {
		close(h.held)
		<-h.release
	}
	return nil
}

// A drop is found before the next message of its subscription is handled, not only when
// nats.go reports the slow consumer: that report runs on nats.go's callback goroutine, which
// other callbacks (a disconnect, a reconnect, a log line) may hold up, and meanwhile the node
// would hand out what came after the gap in the incarnation that lost it. Here the report is
// held in its log line; the events still queued, and one sent after the gap, must not be
// handed out before the link is lost. (TestSlowNodeDropsMessagesAndLosesItsLink passes without
// the check on every message: its report comes while the stuck delivery still holds the link.)
func TestDropIsFoundBeforeTheNextMessage(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	slow := func(c *cluster.Config) { c.Heartbeat, c.DeadAfter = 200*time.Millisecond, time.Minute }
	lh := &holdFirst{what: "NATS dropped deliveries", held: make(chan struct{}), release: make(chan struct{})}
	var released sync.Once
	release := func() { released.Do(func() { close(lh.release) }) }
	home, hh := startNode(t, url, slow, func(c *cluster.Config) { c.Logger = slog.New(lh) })
	t.Cleanup(release) // before the nodes close (cleanups run last first)
	owner, _ := startNode(t, url, slow)
	waitFor(t, 5*time.Second, "the nodes hear each other", func() bool {
		return len(home.Status().Peers) == 1 && len(owner.Status().Peers) == 1
	})
	gate := make(chan struct{})
	var opened sync.Once
	open := func() { opened.Do(func() { close(gate) }) }
	t.Cleanup(open)
	hh.mu.Lock()
	hh.gate = func() { <-gate }
	hh.mu.Unlock()
	const events = 80_000 // more than the bound (65,536 messages)
	for i := range events {
		if err := owner.Deliver(home.ID(), []uint64{1}, fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-lh.held: // nats.go reported the drop; its report is held
	case <-time.After(30 * time.Second):
		t.Fatal("no drop reported within 30 s")
	}
	open()
	if err := owner.Deliver(home.ID(), []uint64{1}, []byte("after")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the home node loses its link, or hands out the event sent after the gap", func() bool {
		delivered, _, _, linkLost := hh.snapshot()
		return len(linkLost) > 0 || slices.Contains(delivered, "1:after")
	})
	hh.mu.Lock()
	defer hh.mu.Unlock()
	at := len(hh.delivered)
	if len(hh.lostAt) > 0 {
		at = hh.lostAt[0]
	}
	for i, d := range hh.delivered[:at] {
		if d != fmt.Sprintf("1:%d", i) {
			t.Fatalf("handed out before the link was lost: %q at %d (after %d events in order), want the events in order with no gap", d, i, i)
		}
	}
}
