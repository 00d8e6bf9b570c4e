package relay_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"

	"mpcrelay/relay"
	"mpcrelay/relay/cluster"
	"mpcrelay/relay/protocol"
)

// §6.1 across nodes when an owner restarts its link (a new epoch: it dropped every membership
// of other nodes' connections). Here the owner's heartbeats cannot reach the home node (NATS
// denies them), so the first the home node hears of the restart is the done of a join that the
// owner ran in its new life. The restart is handled first: y, a member from the owner's first
// life, is closed (4001) instead of staying open outside its group; then z's join counts: z is
// a member, stays open, and gets the group's events.
func TestClusterOwnerRestartSeenInAReply(t *testing.T) {
	owner, home, link := unheardOwner(t)
	w := dialRaw(t, owner.URL())
	g := createGroup(t, w, 4, 1)
	y, z := dialRaw(t, home.URL()), dialRaw(t, home.URL())
	joinGroup(t, y, g)

	link.Blip() // the owner's link restarts: y is no longer a member there
	deadline := time.Now().Add(10 * time.Second)
	waitRelinked(t, owner, g, deadline)
	joinAfterReconnect(t, z, g, deadline)
	if ce := y.closed(); ce == nil || ce.Code != 4001 {
		t.Fatalf("Expected: y closed with 4001 (the owner's restart ended its membership) / Actual: %v", ce)
	}
	w.ok(protocol.MethodNotifyProposal, protocol.NotifyProposalParams{GroupID: g, SessionID: uuid.New(), ProposalID: "p", Message: "m"}, nil)
	z.event(protocol.EventNotifyProposal)
	createGroup(t, z, 2, 1) // z is still open
	if n := relay.GroupMembers(owner.Server(), g); n != 2 {
		t.Fatalf("Expected: the owner's group holds w and z / Actual: %d members", n)
	}
}

// §6.1 across nodes: a request sent to an owner that restarted its link before the home node
// heard of it runs in the owner's new life, however late. Here y's join waits there (its group
// held) past the home node's write wait; then the home node hears of the restart (from z's
// join), which voids what it booked of y there; then y closes. The owner must be told (it runs
// the notice after y's join). It was not: the home node booked nothing of y there any more, and
// it also dropped the join's late done once the restart was twice the write wait old — y stayed
// a member of the group for good ('Actual: 2 members' below).
func TestClusterRequestToAnUnheardRestartLeavesOnClose(t *testing.T) {
	owner, home, link := unheardOwner(t, func(c *relay.Config) { c.WriteWait = time.Second })
	w := dialRaw(t, owner.URL())
	g, g2 := createGroup(t, w, 4, 1), createGroup(t, w, 4, 1)
	z := dialRaw(t, home.URL())
	joinGroup(t, z, g2) // the home node knows the owner's first life

	link.Blip()
	deadline := time.Now().Add(10 * time.Second)
	waitRelinked(t, owner, g2, deadline)
	release := relay.HoldGroup(owner.Server(), g)
	released := false
	defer func() {
		if !released {
			release()
		}
	}()
	y := dialRaw(t, home.URL())
	for { // runs in the owner's new life, as soon as its subscriptions are back
		in, data := y.call(protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: g})
		if in.Error != nil && strings.Contains(in.Error.Message, "did not answer") {
			break // given up on after the write wait: it waits for g there
		}
		if in.Error == nil || !strings.Contains(in.Error.Message, "cannot reach") || time.Now().After(deadline) {
			t.Fatalf("Expected: y's join waits at the owner past the write wait / Actual: %s", data)
		}
		time.Sleep(20 * time.Millisecond)
	}
	given := time.Now()
	// z's join, answered by the owner's new life, is the first the home node hears of the
	// restart: z, a member from the first life, is closed; what was booked of y there is void.
	z.request(protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: g2})
	if ce := z.closed(); ce == nil || ce.Code != 4001 {
		t.Fatalf("Expected: z closed with 4001 (the owner's restart) / Actual: %v", ce)
	}
	_ = y.ws.Close()
	// The owner is told at once: nothing of y is awaited any more.
	waitMetric(t, home, "mpcrelay_cluster_requests_given_up", 0)
	// Past twice the write wait after y's join was sent, plus a heartbeat of the home node.
	time.Sleep(time.Until(given.Add(3500 * time.Millisecond)))
	release() // y's join runs: y is a member of g until the owner runs the notice of its close
	released = true
	waitMetric(t, home, "mpcrelay_cluster_late_replies_total", 1) // its done came back: it ran
	for relay.GroupMembers(owner.Server(), g) != 1 {
		if time.Now().After(given.Add(3500*time.Millisecond + testWait)) {
			t.Fatalf("Expected: y, closed, left g / Actual: %d members", relay.GroupMembers(owner.Server(), g))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// unheardOwner starts an owner node whose heartbeats NATS denies (the home node hears of it
// only through its replies), linked to NATS through a cuttable link, and a home node; tweak
// changes both. No node dies here: a slow liveness, so the missing heartbeats cost nothing.
func unheardOwner(t *testing.T, tweak ...func(*relay.Config)) (owner, home *relay.Instance, link *cuttableLink) {
	t.Helper()
	srv, err := cluster.StartNATS(cluster.ServerConfig{Addr: "127.0.0.1:0", Configure: func(o *server.Options) {
		o.Users = []*server.User{
			{Username: "owner", Password: "pw", Permissions: &server.Permissions{
				Publish:   &server.SubjectPermission{Allow: []string{">"}, Deny: []string{"mpcrelay.*.hb"}},
				Subscribe: &server.SubjectPermission{Allow: []string{">"}},
			}},
			{Username: "home", Password: "pw"},
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	link = newCuttableLink(t, "nats://"+srv.Addr())
	slow := func(c *relay.Config) { c.Cluster.Heartbeat, c.Cluster.DeadAfter = time.Second, 30*time.Second }
	owner = startNode(t, "nats://owner:pw@"+strings.TrimPrefix(link.URL(), "nats://"), append([]func(*relay.Config){slow}, tweak...)...)
	home = startNode(t, "nats://home:pw@"+srv.Addr(), append([]func(*relay.Config){slow}, tweak...)...)
	return owner, home, link
}

// waitRelinked waits until owner, whose link was blipped, dropped the other node's member of g
// (its one member left is its own) and is connected again.
func waitRelinked(t *testing.T, owner *relay.Instance, g uuid.UUID, deadline time.Time) {
	t.Helper()
	for relay.GroupMembers(owner.Server(), g) != 1 || health(t, owner).code != 200 {
		if time.Now().After(deadline) {
			t.Fatal("Expected: the owner drops the other node's member and reconnects / Actual: not within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
