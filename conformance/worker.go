package conformance

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
)

// workerEnv names the plan file of a worker process (see RunWorkerIfRequested).
const workerEnv = "MPCRELAY_CONFORM_WORKER"

// Target is one relay under test. A relay that spans several nodes (a cluster) lists them in
// Nodes: each case then dials its connections on the nodes in turn (the first on Nodes[0], the
// second on Nodes[1], ...), so every case with two connections also checks cross-node behaviour.
// URL is then Nodes[0].
type Target struct {
	Name  string   `json:"name"`
	URL   string   `json:"url"`
	Nodes []string `json:"nodes,omitempty"`
	// Embedded marks the kit's own reference relay, so cases that check the reference relay's
	// serve options (the browser's wss://, origin and static cases) run against it.
	Embedded bool `json:"embedded,omitempty"`
	// Replay holds the conform flags that select this target ("--url ws://...", "--compat"), for
	// the replay commands of failing explorations.
	Replay string `json:"replay,omitempty"`
}

// ClusterTarget is one relay served by every URL in urls (mpcrelay conform --cluster).
func ClusterTarget(urls []string) Target {
	return Target{Name: "cluster " + strings.Join(urls, " "), URL: urls[0], Nodes: slices.Clone(urls),
		Replay: "--cluster --url " + strings.Join(urls, " --url ")}
}

// urls lists the target's nodes (just URL for a single relay).
func (tg Target) urls() []string {
	if len(tg.Nodes) > 0 {
		return tg.Nodes
	}
	return []string{tg.URL}
}

type specRef struct {
	Target int    `json:"target"`
	Case   string `json:"case"`
}

// plan is what the parent hands a worker.
type plan struct {
	Targets     []Target        `json:"targets"`
	Specs       []specRef       `json:"specs"`
	Timeout     time.Duration   `json:"timeout"`
	QuietWindow time.Duration   `json:"quiet_window"`
	ResultFile  string          `json:"result_file"`
	Seed        int64           `json:"seed"`
	Explore     ExploreSettings `json:"explore"`
}

// specResult is one line of a worker's result file.
type specResult struct {
	Target     int     `json:"target"`
	Case       string  `json:"case"`
	Outcome    Outcome `json:"outcome"`
	DurationMS int64   `json:"duration_ms"`
	Detail     string  `json:"detail,omitempty"`
	Transcript string  `json:"transcript,omitempty"`
}

// RunWorkerIfRequested runs the worker share of a conformance run when this process was started
// as a worker by Run, and reports whether it did (the caller then exits). Call it first thing in
// main paths that Run may re-execute: the conform subcommand, and TestMain of test packages
// that call Run.
func RunWorkerIfRequested() bool {
	path := os.Getenv(workerEnv)
	if path == "" {
		return false
	}
	if err := runWorker(path); err != nil {
		fmt.Fprintln(os.Stderr, "conformance worker:", err)
		os.Exit(3)
	}
	return true
}

// ginkgoT is the GinkgoTestingT of a worker: RunSpecs only needs Fail.
type ginkgoT struct{ failed bool }

func (g *ginkgoT) Fail() { g.failed = true }

func caseTimeout(c *Case, cfg Config) time.Duration {
	if c.section != nil && c.section.Number == "explore" {
		return exploreTimeout(cfg)
	}
	if c.cost >= costCrypto {
		return 5 * time.Minute
	}
	return max(30*time.Second, 10*(cfg.Timeout+cfg.QuietWindow))
}

func runWorker(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var p plan
	if err := json.Unmarshal(data, &p); err != nil {
		return fmt.Errorf("plan %s: %w", path, err)
	}
	out, err := os.OpenFile(p.ResultFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	cfg := Config{Timeout: p.Timeout, QuietWindow: p.QuietWindow}
	exploreSettings = p.Explore

	var mu sync.Mutex
	results := map[string]*specResult{} // by spec text
	enc := json.NewEncoder(out)
	for _, ref := range p.Specs {
		c, ok := Lookup(ref.Case)
		if !ok {
			return fmt.Errorf("plan names unknown case %q", ref.Case)
		}
		target := p.Targets[ref.Target]
		text := fmt.Sprintf("%s [%s] %s", c.ID, target.Name, c.Requirement)
		ginkgo.It(text, ginkgo.Label(c.AllLabels()...), ginkgo.SpecTimeout(caseTimeout(c, cfg)), func(ctx ginkgo.SpecContext) {
			t := newT(ctx, target, cfg, c)
			outcome, detail := t.run()
			res := &specResult{Target: ref.Target, Case: c.ID, Outcome: outcome, Detail: detail}
			if outcome != Pass {
				res.Transcript = t.tr.String()
			}
			mu.Lock()
			results[text] = res
			mu.Unlock()
			switch outcome {
			case Fail, Error:
				ginkgo.Fail(detail + "\n\nTranscript:\n" + res.Transcript)
			case Skipped:
				ginkgo.Skip(detail)
			}
		})
	}
	ginkgo.ReportAfterEach(func(r ginkgo.SpecReport) {
		mu.Lock()
		res := results[r.LeafNodeText]
		mu.Unlock()
		if res == nil { // the body never finished: a timeout, interrupt or harness panic
			res = &specResult{Outcome: Error, Detail: fmt.Sprintf("harness: %s after %s: %s", r.State, r.RunTime.Round(time.Millisecond), r.Failure.Message)}
			for _, ref := range p.Specs {
				if c, _ := Lookup(ref.Case); c != nil && r.LeafNodeText == fmt.Sprintf("%s [%s] %s", c.ID, p.Targets[ref.Target].Name, c.Requirement) {
					res.Target, res.Case = ref.Target, ref.Case
				}
			}
		} else if r.State.Is(types.SpecStateTimedout | types.SpecStateInterrupted | types.SpecStateAborted) {
			res.Outcome, res.Detail = Error, fmt.Sprintf("harness: %s after %s: %s\n%s", r.State, r.RunTime.Round(time.Millisecond), r.Failure.Message, res.Detail)
		}
		res.DurationMS = r.RunTime.Milliseconds()
		mu.Lock()
		_ = enc.Encode(res)
		mu.Unlock()
	})
	suite, rep := ginkgo.GinkgoConfiguration()
	suite.RandomSeed = p.Seed
	suite.ParallelProcess, suite.ParallelTotal = 1, 1
	suite.Timeout = 24 * time.Hour
	suite.GracePeriod = 5 * time.Second
	rep.NoColor = true
	rep.Succinct = true
	ginkgo.RunSpecs(&ginkgoT{}, "mpcrelay conformance", suite, rep)
	closeWorkerBrowser()
	return nil
}
