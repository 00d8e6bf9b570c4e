package conformance

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMain lets Run re-execute this test binary as a worker.
func TestMain(m *testing.M) {
	if os.Getenv(burnEnv) != "" {
		burnCPU()
	}
	if RunWorkerIfRequested() {
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestConformance runs the suite against MPCRELAY_URL, or the embedded reference relay when it
// is unset, and reports every case as a subtest. MPCRELAY_CLUSTER_URLS (comma-separated node
// URLs of one relay, as conform --cluster) replaces MPCRELAY_URL for a relay on several nodes. MPCRELAY_LABEL_FILTER selects cases (default:
// everything), MPCRELAY_P sets the workers and MPCRELAY_TIMEOUT the response timeout.
func TestConformance(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	url := os.Getenv("MPCRELAY_URL")
	if url == "" && os.Getenv("MPCRELAY_CLUSTER_URLS") == "" {
		url = startReference(t, false).URL()
	}
	cases, err := Select(os.Getenv("MPCRELAY_LABEL_FILTER"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("MPCRELAY_BROWSER") == "" {
		cases = Without(cases, "browser") // TestBrowserCases runs them
	}
	p, _ := strconv.Atoi(os.Getenv("MPCRELAY_P"))
	timeout := DefaultTimeout * raceSlowdown
	if d, err := time.ParseDuration(os.Getenv("MPCRELAY_TIMEOUT")); err == nil {
		timeout = d
	}
	target := Target{Name: url, URL: url, Embedded: os.Getenv("MPCRELAY_URL") == ""}
	if nodes := os.Getenv("MPCRELAY_CLUSTER_URLS"); nodes != "" {
		target = ClusterTarget(strings.Split(nodes, ","))
	}
	rep, err := Run(ctx, Options{Targets: []Target{target}, Cases: cases, Parallel: p,
		Config: Config{Timeout: timeout}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range rep.HarnessErrors {
		t.Error(e)
	}
	for _, r := range rep.Cases {
		t.Run(r.ID, func(t *testing.T) {
			switch r.Outcome {
			case Fail, Error:
				t.Errorf("%s: %s\n%s\n\nTranscript:\n%s", r.Outcome, r.Title, r.Detail, r.Transcript)
			case Skipped:
				t.Skip(r.Detail)
			case NonStrict, InfoOnly:
				t.Logf("%s: %s", r.Outcome, r.Detail)
			}
		})
	}
	t.Logf("%d cases in %d ms: %v", len(rep.Cases), rep.DurationMS, rep.Summary)
}
