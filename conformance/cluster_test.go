package conformance

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"mpcrelay/conformance/explore"
	"mpcrelay/relay"
	"mpcrelay/relay/cluster"
	"mpcrelay/relay/cluster/natstest"
)

// startNodes starts n relay nodes of cluster name, node i on NATS natsURLs[i mod len], and
// returns their URLs.
func startNodes(t *testing.T, ctx context.Context, name string, compat bool, n int, natsURLs ...string) []string {
	t.Helper()
	var urls []string
	for i := range n {
		cfg := relay.DefaultConfig()
		cfg.Addr = "127.0.0.1:0"
		cfg.Compat = compat
		cfg.Cluster = cluster.Config{URL: natsURLs[i%len(natsURLs)], Name: name}
		inst, err := relay.Start(ctx, cfg)
		if err != nil {
			t.Fatalf("start relay node %d of %s: %v", i+1, name, err)
		}
		t.Cleanup(func() { _ = inst.Shutdown(context.Background()) })
		urls = append(urls, inst.URL())
	}
	return urls
}

// TestCluster runs the suite across the nodes of relays that span three nodes (conform
// --cluster): a real cluster in strict mode on a three-server NATS cluster and one in compat
// mode on a single NATS server must pass every case; a cluster whose NATS drops the events that
// cross nodes must be caught, and so must three independent relays given as one (a group
// created on one is unknown on the others) — by the hand-written cases and by the exploration,
// whose connections are spread over the nodes the same way. Every failure's transcript names
// each connection's node.
func TestCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	natsCluster := natstest.Cluster(t, 3)
	strict := startNodes(t, ctx, "strict", false, 3, natsCluster[0].ClientURL(), natsCluster[1].ClientURL(), natsCluster[2].ClientURL())
	compat := startNodes(t, ctx, "compat", true, 3, natstest.Server(t).ClientURL())
	broken := startNodes(t, ctx, "broken", false, 3, natstest.EventsDenied(t))
	var independent []string
	for range 3 {
		inst := startReference(t, false)
		independent = append(independent, inst.URL())
	}
	nodes := map[string][]string{"broken": broken, "independent": independent}
	targets := []Target{ClusterTarget(strict), ClusterTarget(compat), ClusterTarget(broken), ClusterTarget(independent)}
	for i, name := range []string{"strict", "compat", "broken", "independent"} {
		targets[i].Name = name
	}
	cases, err := Select("!crypto && !slow", nil)
	if err != nil {
		t.Fatal(err)
	}
	timeout := 2 * time.Second * time.Duration(min(raceSlowdown, 2))
	rep, err := Run(ctx, Options{Targets: targets, Cases: cases, Parallel: 8,
		Config:  Config{Timeout: timeout, QuietWindow: 100 * time.Millisecond},
		Explore: ExploreSettings{Steps: DefaultExplore.Steps}}) // failing explorations are not shrunk here
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range rep.HarnessErrors {
		t.Error(e)
	}
	got := map[string]map[string]Result{}
	for _, r := range rep.Cases {
		if got[r.Target] == nil {
			got[r.Target] = map[string]Result{}
		}
		got[r.Target][r.ID] = r
	}
	for _, name := range []string{"strict", "compat"} {
		for _, r := range got[name] {
			if r.Outcome.Bad() {
				t.Errorf("real cluster (%s): %s %s: %s\n%s", name, r.ID, r.Outcome, r.Detail, r.Transcript)
			}
		}
	}
	mustFail := map[string][]string{
		// Events that cross nodes are lost.
		"broken": {"4.3/keygen-create-event-to-other-members", "4.5/signup-event-exactly-at-threshold",
			"4.7/broadcast-reaches-every-other-party", "4.8/closed-after-every-party-finished", "4.9/proposal-to-other-members"},
		// Parties must meet in one group across nodes.
		"independent": {"4.2/join-returns-group", "4.3/keygen-create-event-to-other-members",
			"4.5/signup-event-exactly-at-threshold", "4.7/broadcast-reaches-every-other-party",
			"4.7/peer-to-peer-only-to-receiver", "4.8/closed-after-every-party-finished", "4.9/proposal-to-other-members"},
	}
	for name := range mustFail {
		for _, seed := range explore.DefaultSeeds {
			mustFail[name] = append(mustFail[name], fmt.Sprintf("explore/%d", seed))
		}
	}
	for name, ids := range mustFail {
		for _, id := range ids {
			r, ok := got[name][id]
			nodeNote, replay := "B@2 is on node 2, ", ""
			if strings.HasPrefix(id, "explore/") {
				nodeNote, replay = " connected, on node 2, ", "--cluster --url "+strings.Join(nodes[name], " --url ")
			}
			switch {
			case !ok:
				t.Errorf("%s: case %s did not run", name, id)
			case r.Outcome != Fail:
				t.Errorf("%s cluster: %s = %s, want fail\n%s", name, id, r.Outcome, r.Transcript)
			case !strings.Contains(r.Transcript, nodeNote):
				t.Errorf("%s: %s: the transcript does not name the node of the second connection (%q):\n%s", name, id, nodeNote, r.Transcript)
			case !strings.Contains(r.Detail, replay):
				t.Errorf("%s: %s: the replay command does not select the cluster (%s):\n%s", name, id, replay, r.Detail)
			}
		}
	}
	// One connection: nothing crosses nodes, so these pass even on independent relays.
	for _, id := range []string{"4.1/parties-must-exceed-one", "2.3/unknown-method", "1.3/requests-answered-in-order"} {
		if r := got["independent"][id]; r.Outcome != Pass {
			t.Errorf("independent: %s = %s on a single node, want pass: %s\n%s", id, r.Outcome, r.Detail, r.Transcript)
		}
	}
	for _, name := range []string{"strict", "compat", "broken", "independent"} {
		t.Logf("%-12s %v", name, rep.ByTarget[name])
	}

	// The slow cases on the real cluster: 1 MiB bodies through NATS, a stalled reader and
	// garbage on one node, many groups at once across the nodes.
	slow, err := Select("slow && !crypto", nil)
	if err != nil {
		t.Fatal(err)
	}
	rep, err = Run(ctx, Options{Targets: targets[:1], Cases: slow, Parallel: 4, Config: Config{Timeout: DefaultTimeout * raceSlowdown}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range rep.HarnessErrors {
		t.Error(e)
	}
	for _, r := range rep.Cases {
		if r.Outcome.Bad() {
			t.Errorf("real cluster, slow case %s: %s: %s\n%s", r.ID, r.Outcome, r.Detail, r.Transcript)
		}
	}
	t.Logf("strict, slow cases: %v", rep.Summary)
}
