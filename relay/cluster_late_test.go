package relay_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"mpcrelay/relay"
	"mpcrelay/relay/cluster"
	"mpcrelay/relay/cluster/natstest"
	"mpcrelay/relay/protocol"
)

// Requests whose done comes late: the owner answered, then was slow to finish (lateDone).

// §2.5 across nodes: a close-connection error (§4.2: the group is full) whose done comes after
// the home node gave up on it still closes the connection, as one relay does right after that
// frame (MUST). The owner already dropped the connection from its groups.
func TestClusterCloseConnectionWithLateDoneCloses(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	owner, home, hold, release := lateDone(t, url, url)
	g := createGroup(t, dialRaw(t, owner.URL()), 2, 1)
	joinGroup(t, dialRaw(t, owner.URL()), g) // full
	y := dialRaw(t, home.URL())
	hold()
	in, data := y.call(protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: g})
	if in.Error == nil || !in.Error.ClosesConnection() {
		t.Fatalf("Expected: -32603 close-connection (the group is full) / Actual: %s", data)
	}
	ce := y.closed() // the home node gives up on the done after its write wait (1 s)
	release()
	if ce == nil || ce.Code != 1008 {
		t.Fatalf("Expected: the connection closed after the close-connection error (1008) / Actual: %v", ce)
	}
}

// --max-groups-per-conn across nodes counts a Group.join whose done came late: while the done
// is missing (the client was told it joined) and once the late done says so.
func TestClusterGroupLimitCountsALateJoin(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	owner, home, hold, release := lateDone(t, url, url, func(c *relay.Config) { c.MaxGroupsPerConn = 2 })
	g := createGroup(t, dialRaw(t, owner.URL()), 3, 1)
	y := dialRaw(t, home.URL())
	hold()
	joinGroup(t, y, g)      // answered; its done is held past the home node's write wait
	createGroup(t, y, 2, 1) // runs once the home node gave up on the join's done: y's second group
	overLimit := func(when string) {
		t.Helper()
		e := y.fails(protocol.MethodGroupCreate, protocol.GroupCreateParams{Label: "l", Params: protocol.Parameters{Parties: 2, Threshold: 1}}, protocol.CodeInternal)
		if !strings.Contains(e.Message, "2 groups") {
			t.Fatalf("%s: Expected: the limit of 2 groups / Actual: %s", when, e.Message)
		}
	}
	overLimit("the join's done missing")
	release()
	waitMetric(t, home, "mpcrelay_cluster_late_replies_total", 1)
	overLimit("after the late done")
}

// --max-groups-per-conn across nodes, and §6.1's bookkeeping, take a late done even when a
// later request to the same owner timed out before it came: y's join of g1 and then its join of
// g2 wait at the owner (both groups held) past the write wait; g1 is released, and its join's
// late done says y holds a group there. It was ignored (the later request's missing done was
// booked with a higher number), so y could create two more groups on its own node.
func TestClusterLateDoneAfterALaterRequestTimedOutCounts(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	limit := func(c *relay.Config) {
		c.MaxGroupsPerConn = 2
		c.Cluster.Heartbeat, c.Cluster.DeadAfter = 200*time.Millisecond, 2*time.Second
	}
	owner := startNode(t, url, limit)
	home := startNode(t, url, limit, func(c *relay.Config) { c.WriteWait = time.Second })
	w := dialRaw(t, owner.URL())
	g1, g2 := createGroup(t, w, 3, 1), createGroup(t, w, 3, 1)
	release1, release2 := relay.HoldGroup(owner.Server(), g1), relay.HoldGroup(owner.Server(), g2)
	var once1, once2 sync.Once
	t.Cleanup(func() { once1.Do(release1); once2.Do(release2) })
	y := dialRaw(t, home.URL())
	for _, g := range []uuid.UUID{g1, g2} { // the second waits behind the first at the owner
		if e := y.fails(protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: g}, protocol.CodeInternal); !strings.Contains(e.Message, "did not answer") {
			t.Fatalf("Expected: the join times out / Actual: %s", e.Message)
		}
	}
	once1.Do(release1) // y's join of g1 runs: its done comes late
	waitMetric(t, home, "mpcrelay_cluster_late_replies_total", 1)
	createGroup(t, y, 2, 1) // y's second group
	e := y.fails(protocol.MethodGroupCreate, protocol.GroupCreateParams{Label: "l", Params: protocol.Parameters{Parties: 2, Threshold: 1}}, protocol.CodeInternal)
	if !strings.Contains(e.Message, "2 groups") {
		t.Fatalf("Expected: the limit of 2 groups (g1 on the owner, one here) / Actual: %s", e.Message)
	}
}

// --max-groups-per-conn across nodes counts a late Group.join only when it was answered with
// success: a join the owner refused (here the group does not exist) made y a member of nothing,
// whether its done comes late or never. It counted as one more group there until its done came,
// so y could not create its second group meanwhile.
func TestClusterGroupLimitIgnoresARefusedLateJoin(t *testing.T) {
	url := natstest.Server(t).ClientURL()
	owner, home, hold, release := lateDone(t, url, url, func(c *relay.Config) { c.MaxGroupsPerConn = 2 })
	missing := cluster.NewGroupID(ownerOf(createGroup(t, dialRaw(t, owner.URL()), 3, 1))) // the owner's, but no group
	y := dialRaw(t, home.URL())
	hold()
	in, data := y.call(protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: missing})
	if in.Error == nil || in.Error.ClosesConnection() {
		t.Fatalf("Expected: the owner refuses the join (no such group) / Actual: %s", data)
	}
	createGroup(t, y, 2, 1) // runs once the home node gave up on the join's done: y's first group
	createGroup(t, y, 2, 1) // its second: within the limit
	e := y.fails(protocol.MethodGroupCreate, protocol.GroupCreateParams{Label: "l", Params: protocol.Parameters{Parties: 2, Threshold: 1}}, protocol.CodeInternal)
	if !strings.Contains(e.Message, "2 groups") {
		t.Fatalf("Expected: the limit of 2 groups / Actual: %s", e.Message)
	}
	release()
	waitMetric(t, home, "mpcrelay_cluster_late_replies_total", 1)
}
