package conformance

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"mpcrelay/conformance/explore"
)

// The model-based exploration (package explore) runs as cases of its own section: one case per
// seed, id "explore/<seed>", label "explore". A default run explores the fixed seeds of
// explore.DefaultSeeds with a step budget, so CI verdicts are stable; `mpcrelay conform
// --explore` runs longer with fresh seeds (ExploreCases).

// ExploreSettings bound the explorations of a run (they travel to the workers in the plan).
type ExploreSettings struct {
	Steps        int           `json:"steps,omitempty"`         // steps per seed (0: until Duration)
	Duration     time.Duration `json:"duration,omitempty"`      // per seed
	Keep         []string      `json:"keep,omitempty"`          // replay only these steps ("12") or frames ("12.1")
	ShrinkBudget time.Duration `json:"shrink_budget,omitempty"` // bound of shrinking a failing run
}

// DefaultExplore is the bounded exploration of every run.
var DefaultExplore = ExploreSettings{Steps: explore.DefaultSteps, ShrinkBudget: explore.DefaultShrinkBudget}

var (
	exploreMu       sync.Mutex
	exploreSettings = DefaultExplore // this process's settings (a worker's come from its plan)
)

func init() {
	var cases []*Case
	for _, seed := range explore.DefaultSeeds {
		cases = append(cases, newExploreCase(seed))
	}
	register("explore", "Model-based exploration", cases...)
}

func newExploreCase(seed int64) *Case {
	return &Case{
		ID: fmt.Sprintf("explore/%d", seed),
		Requirement: fmt.Sprintf("A seeded random run (seed %d) of connections, groups, sessions and every method, valid and invalid, "+
			"gets from the relay exactly the frames the protocol model predicts, per connection (§1–§6).", seed),
		Level: Must, Labels: []string{"explore"},
		Run: func(t *T) { runExplore(t, seed) },
	}
}

// exploreCase finds or makes the case of any seed ("explore/123"), so that fresh seeds run in
// workers like registered cases.
func exploreCase(id string) (*Case, bool) {
	rest, ok := strings.CutPrefix(id, "explore/")
	if !ok {
		return nil, false
	}
	seed, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || strconv.FormatInt(seed, 10) != rest {
		return nil, false
	}
	exploreMu.Lock()
	defer exploreMu.Unlock()
	if c, ok := byID[id]; ok {
		return c, true
	}
	c := newExploreCase(seed)
	for _, s := range sections {
		if s.Number == "explore" {
			c.section = s
		}
	}
	c.cost = costSlow
	byID[id] = c
	return c, true
}

// ExploreCases returns the exploration cases of the given seeds (for --explore).
func ExploreCases(seeds []int64) []*Case {
	out := make([]*Case, 0, len(seeds))
	for _, s := range seeds {
		c, _ := exploreCase(fmt.Sprintf("explore/%d", s))
		out = append(out, c)
	}
	return out
}

func exploreTimeout(cfg Config) time.Duration {
	s := exploreSettings
	return s.Duration + s.ShrinkBudget + 20*(cfg.Timeout+cfg.QuietWindow) + time.Minute
}

func runExplore(t *T, seed int64) {
	s := exploreSettings
	res := explore.Run(t.ctx, explore.Config{URLs: t.nodes, Seed: seed, Steps: s.Steps, Duration: s.Duration, Keep: s.Keep,
		Timeout: t.cfg.Timeout, Quiet: t.cfg.QuietWindow, ShrinkBudget: s.ShrinkBudget})
	start := t.tr.start
	for _, l := range res.Lines {
		if l.Dir == "#" {
			t.tr.noteAt(start.Add(l.At), l.Text)
		} else {
			t.tr.frame(l.Conn, l.Dir, l.Binary, l.Data, start.Add(l.At))
		}
	}
	if res.Harness {
		t.HarnessError("exploration of seed %d stopped at step %d: %s", seed, res.FailStep, res.Actual)
	}
	if res.Failed {
		replay := "mpcrelay conform " + res.Replay()
		if t.replay != "" {
			replay += " " + t.replay
		}
		shrunk := "not shrunk"
		if res.Shrunk {
			shrunk = fmt.Sprintf("shrunk to %d steps (%d frames; %d runs, %.1fs)", res.MinimalSteps(), len(res.Minimal), res.Runs, res.ShrinkFor.Seconds())
		}
		t.fail(fmt.Sprintf("Expected: %s\nActual:   %s\n\nseed %d failed at step %d of %d; %s.\nReplay: %s\nMinimal steps:\n  %s",
			res.Expected, res.Actual, seed, res.FailStep, res.Steps, shrunk, replay, strings.Join(res.MinSteps, "\n  ")))
	}
	t.Info("seed %d: %d steps, %d frames in %.1fs (%.0f steps/s), every frame as the model predicts; the relay showed: %s",
		seed, res.Steps, res.Frames, res.Elapsed.Seconds(), float64(res.Steps)/max(res.Elapsed.Seconds(), 1e-9), strings.Join(res.Learned, "; "))
}
