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
	link := newCuttableLink(t, "nats://"+srv.Addr())
	// No node dies here: a slow liveness, so that the owner's missing heartbeats cost nothing.
	slow := func(c *relay.Config) { c.Cluster.Heartbeat, c.Cluster.DeadAfter = time.Second, 30*time.Second }
	owner := startNode(t, "nats://owner:pw@"+strings.TrimPrefix(link.URL(), "nats://"), slow)
	home := startNode(t, "nats://home:pw@"+srv.Addr(), slow)
	w := dialRaw(t, owner.URL())
	g := createGroup(t, w, 4, 1)
	y, z := dialRaw(t, home.URL()), dialRaw(t, home.URL())
	joinGroup(t, y, g)

	link.Blip() // the owner's link restarts: y is no longer a member there
	deadline := time.Now().Add(10 * time.Second)
	for relay.GroupMembers(owner.Server(), g) != 1 || health(t, owner).code != 200 {
		if time.Now().After(deadline) {
			t.Fatal("Expected: the owner drops y and reconnects / Actual: not within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for { // the owner's subscriptions may still be on their way back
		in, data := z.call(protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: g})
		if in.Error == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Expected: z joins after the owner reconnected / Actual: %s", data)
		}
		time.Sleep(20 * time.Millisecond)
	}
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
