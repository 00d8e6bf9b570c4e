package relay_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"mpcrelay/relay"
	"mpcrelay/relay/cluster"
	"mpcrelay/relay/cluster/natstest"
	"mpcrelay/relay/protocol"
)

// §3.6/§4.7 across nodes: an event frame that NATS cannot carry to another node (a reconnect
// landed on a NATS server with a smaller max_payload) does not reach its receivers there. One
// relay never keeps a member that misses an event; a member's only way out of a group is its
// connection's close (§6.1). So those receivers are closed (4003), at once, while the owner's
// local members get the frame and later frames as usual.
func TestClusterEventOverMaxPayloadClosesItsReceivers(t *testing.T) {
	n1, n2, deadline := smallPayloadNodes(t)
	a, l := dialRaw(t, n1.URL()), dialRaw(t, n1.URL())
	b, c := dialRaw(t, n2.URL()), dialRaw(t, n2.URL())
	g := createGroup(t, a, 4, 1)
	joinGroup(t, l, g)
	joinAfterReconnect(t, b, g, deadline)
	joinAfterReconnect(t, c, g, deadline)
	proposal := func(msg string) protocol.NotifyProposalParams {
		return protocol.NotifyProposalParams{GroupID: g, SessionID: uuid.New(), ProposalID: "p", Message: msg}
	}
	a.ok(protocol.MethodNotifyProposal, proposal(strings.Repeat("m", 100<<10)), nil)
	if ev := l.event(protocol.EventNotifyProposal); len(ev.Payload) < 100<<10 {
		t.Fatalf("Expected: the local member gets the whole proposal / Actual: %d bytes", len(ev.Payload))
	}
	for _, r := range []*raw{b, c} {
		if ce := r.closed(); ce == nil || ce.Code != 4003 || !strings.Contains(ce.Text, "max_payload") {
			t.Fatalf("Expected: a receiver on the other node closed with 4003 naming max_payload / Actual: %v", ce)
		}
	}
	// They left the group (§6.1): the owner's group holds its two local members again.
	for relay.GroupMembers(n1.Server(), g) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("Expected: the closed receivers left the group / Actual: %d members", relay.GroupMembers(n1.Server(), g))
		}
		time.Sleep(10 * time.Millisecond)
	}
	a.ok(protocol.MethodNotifyProposal, proposal("small"), nil)
	l.event(protocol.EventNotifyProposal)
}

// A response that NATS cannot carry back to the caller's node (here the session object of a
// Session.join, whose value is large) is not lost: the caller gets -32603 naming max_payload at
// once — not a timeout after the write wait, with its request left pending for a done that
// would never come.
func TestClusterResponseOverMaxPayloadIsAnswered(t *testing.T) {
	n1, n2, deadline := smallPayloadNodes(t)
	a, y := dialRaw(t, n1.URL()), dialRaw(t, n2.URL())
	g := createGroup(t, a, 2, 1)
	joinAfterReconnect(t, y, g, deadline)
	s := createSession(t, a, g, protocol.KindSign, strings.Repeat("v", 100<<10)) // on the owner: no NATS
	start := time.Now()
	e := y.fails(protocol.MethodSessionJoin, protocol.SessionParams{GroupID: g, SessionID: s.UUID, Kind: protocol.KindSign}, protocol.CodeInternal)
	if !strings.Contains(e.Message, "max_payload") {
		t.Fatalf("Expected: -32603 naming max_payload / Actual: %s after %s", e.Message, time.Since(start))
	}
	createSession(t, y, g, protocol.KindSign, nil) // y goes on
}

// smallPayloadNodes starts two nodes on one NATS server, then restarts that server with a
// max_payload of 64 KiB (less than their frames need, as a server of a NATS cluster configured
// unevenly) and waits until both reconnected; deadline bounds the test's waits.
func smallPayloadNodes(t *testing.T) (n1, n2 *relay.Instance, deadline time.Time) {
	t.Helper()
	srv := natstest.Server(t)
	frames := func(c *relay.Config) { c.MaxFrameBytes = relay.MinFrameBytes }
	n1, n2 = startNode(t, srv.ClientURL(), frames), startNode(t, srv.ClientURL(), frames)
	srv.Shutdown()
	natstest.Restart(t, srv, func(c *cluster.ServerConfig) { c.MaxPayload = 64 << 10 })
	deadline = time.Now().Add(10 * time.Second)
	for health(t, n1).code != 200 || health(t, n2).code != 200 {
		if time.Now().After(deadline) {
			t.Fatal("Expected: both nodes reconnect to NATS / Actual: not within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return n1, n2, deadline
}

// joinAfterReconnect joins r to g on another node, retrying until deadline while the owner's
// subscriptions are on their way back after a reconnect.
func joinAfterReconnect(t *testing.T, r *raw, g uuid.UUID, deadline time.Time) {
	t.Helper()
	for {
		in, data := r.call(protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: g})
		if in.Error == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Expected: a cross-node join after NATS came back / Actual: %s", data)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
