package conformance

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestClusterSelfTest shows that a relay spanning nodes is checked across them: three
// independent reference relays given as one (conform --cluster) must fail, since a group created
// on one is unknown on the others. Cases with one connection stay on the first node and pass;
// every failure's transcript names the node of each connection.
func TestClusterSelfTest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var urls []string
	for range 3 {
		inst, err := StartEmbedded(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		defer inst.Shutdown(context.Background())
		urls = append(urls, inst.URL())
	}
	cases, err := Select("!crypto && !slow", nil)
	if err != nil {
		t.Fatal(err)
	}
	timeout := 2 * time.Second * time.Duration(min(raceSlowdown, 2))
	rep, err := Run(ctx, Options{Targets: []Target{ClusterTarget(urls)}, Cases: cases, Parallel: 4,
		Config: Config{Timeout: timeout, QuietWindow: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range rep.HarnessErrors {
		t.Error(e)
	}
	got := map[string]Result{}
	for _, r := range rep.Cases {
		got[r.ID] = r
	}
	// Cases whose parties must meet in one group across nodes.
	for _, id := range []string{"4.2/join-returns-group", "4.3/keygen-create-event-to-other-members",
		"4.5/signup-event-exactly-at-threshold", "4.7/broadcast-reaches-every-other-party",
		"4.7/peer-to-peer-only-to-receiver", "4.8/closed-after-every-party-finished", "4.9/proposal-to-other-members"} {
		r, ok := got[id]
		switch {
		case !ok:
			t.Errorf("case %s did not run", id)
		case r.Outcome != Fail:
			t.Errorf("independent relays as a cluster: %s = %s, want fail\n%s", id, r.Outcome, r.Transcript)
		case !strings.Contains(r.Transcript, "B@2 is on node 2, "+urls[1]):
			t.Errorf("%s: the transcript does not name the node of B:\n%s", id, r.Transcript)
		}
	}
	// One connection: nothing crosses nodes, so these must pass on node 1.
	for _, id := range []string{"4.1/create-returns-uuid", "2.3/unknown-method", "1.3/requests-answered-in-order"} {
		if r := got[id]; r.Outcome != Pass {
			t.Errorf("%s = %s on a single node, want pass: %s\n%s", id, r.Outcome, r.Detail, r.Transcript)
		}
	}
	t.Logf("independent relays as a cluster: %v", rep.Summary)
}
