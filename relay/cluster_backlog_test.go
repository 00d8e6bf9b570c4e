package relay_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"mpcrelay/relay"
	"mpcrelay/relay/cluster/natstest"
	"mpcrelay/relay/protocol"
)

// §6.2 across nodes: a connection whose requests an owner does not finish (here its group's
// lock is held) gets -32603 after the write wait for each, as before, but the requests given up
// on are bounded: past 64 of them at that owner, a request fails at once without being sent, so
// the owner's queue for that connection stops growing. Once the owner catches up (their dones
// come), the connection's requests go through again.
func TestClusterGivenUpRequestsAreBounded(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	slow := func(c *relay.Config) { c.Cluster.Heartbeat, c.Cluster.DeadAfter = time.Second, 10*time.Second }
	owner := startNode(t, url, slow)
	home := startNode(t, url, slow, func(c *relay.Config) { c.WriteWait = 500 * time.Millisecond })
	g := createGroup(t, dialRaw(t, owner.URL()), 2, 1)
	y := dialRaw(t, home.URL())
	for deadline := time.Now().Add(testWait); ; { // 500 ms: a loaded machine may need a retry
		in, data := y.call(protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: g})
		if in.Error == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Expected: y joins / Actual: %s", data)
		}
	}
	release := relay.HoldGroup(owner.Server(), g)
	released := false
	defer func() {
		if !released {
			release()
		}
	}()
	const n = 300
	s := uuid.New()
	first := y.nextID + 1
	for k := range n { // pipelined: they go out 64 at a time
		y.request(protocol.MethodSessionMessage, protocol.SessionMessageParams{GroupID: g, SessionID: s, Kind: protocol.KindSign,
			Message: protocol.Message{Round: 1, Sender: 1, UUID: s, Body: json.RawMessage(fmt.Sprint(k))}})
	}
	timedOut, refused := 0, 0
	for k := range n {
		in, data := y.read(testWait)
		if id, ok := in.IDNumber(); !ok || id != int64(first)+int64(k) || in.Error == nil {
			t.Fatalf("answer %d: Expected: -32603 for request %d / Actual: %s", k, int(first)+k, data)
		}
		switch {
		case strings.Contains(in.Error.Message, "did not answer"):
			timedOut++
		case strings.Contains(in.Error.Message, "has not finished"):
			refused++
		default:
			t.Fatalf("answer %d: Expected: timed out, or refused for the backlog / Actual: %s", k, data)
		}
	}
	queued := metric(t, owner, "mpcrelay_cluster_requests_queued")
	t.Logf("%d timed out, %d refused at once, %v queued at the owner", timedOut, refused, queued)
	// A request is not sent while 64 are given up on; 64 more may be on their way meanwhile.
	if timedOut > 2*64 || refused == 0 || queued > 2*64 {
		t.Fatalf("Expected: at most 128 requests sent to the stalled owner, the rest refused at once / Actual: %d timed out, %d refused, %v queued at the owner",
			timedOut, refused, queued)
	}
	release()
	released = true
	waitMetric(t, owner, "mpcrelay_cluster_requests_queued", 0)
	deadline := time.Now().Add(testWait)
	for { // the late dones come back: the backlog empties
		in, data := y.call(protocol.MethodSessionCreate, protocol.SessionCreateParams{GroupID: g, Kind: protocol.KindSign, Value: json.RawMessage(`null`)})
		if in.Error == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Expected: requests go through once the owner caught up / Actual: %s", data)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A connection's pipelined Session.messages to one owner are bounded in bytes as a send queue
// is (§6.2: 4 × the largest frame), not only in number (64): a party sending large rounds to an
// owner that does not finish them waits (its read pump stops: TCP backpressure) instead of
// putting 64 large frames in the owner's queue for its connection.
func TestClusterPipelinedBytesAreBounded(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	slow := func(c *relay.Config) {
		c.Cluster.Heartbeat, c.Cluster.DeadAfter = time.Second, 10*time.Second
		c.MaxFrameBytes = relay.MinFrameBytes // the bound: 4 MiB
	}
	owner := startNode(t, url, slow)
	// No request may time out meanwhile (the pipeline would then send more): a bound no loaded
	// machine reaches.
	home := startNode(t, url, slow, func(c *relay.Config) { c.WriteWait = time.Minute })
	g := createGroup(t, dialRaw(t, owner.URL()), 2, 1)
	y := dialRaw(t, home.URL())
	joinGroup(t, y, g)
	release := relay.HoldGroup(owner.Server(), g)
	s := uuid.New()
	body, _ := json.Marshal(strings.Repeat("b", 200<<10))
	frames := make([][]byte, 64)
	for k := range frames {
		frame, err := protocol.NewRequest(uint64(100+k), protocol.MethodSessionMessage, protocol.SessionMessageParams{GroupID: g, SessionID: s,
			Kind: protocol.KindSign, Message: protocol.Message{Round: uint16(k), Sender: 1, UUID: s, Body: body}})
		if err != nil {
			t.Fatal(err)
		}
		frames[k] = frame
	}
	sent := make(chan struct{})
	go func() { // the relay stops reading y's frames once its pipeline is full
		defer close(sent)
		for _, f := range frames {
			if y.ws.WriteMessage(websocket.TextMessage, f) != nil {
				return
			}
		}
	}()
	defer func() {
		release() // the owner runs them; the relay reads the rest
		<-sent
	}()
	// 4 MiB of 200 KiB frames: 20 on their way, the next one waiting for room.
	const bound = 4*relay.MinFrameBytes/(200<<10) + 1
	for deadline := time.Now().Add(testWait); metric(t, owner, "mpcrelay_cluster_requests_queued") < bound-5; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Expected: y's messages reach the owner / Actual: not within 5s")
		}
	}
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if q := metric(t, owner, "mpcrelay_cluster_requests_queued"); q > bound {
			t.Fatalf("Expected: at most %d large frames of one connection queued at the owner / Actual: %v", bound, q)
		}
	}
}
