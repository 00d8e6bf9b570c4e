package explore_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"mpcrelay/conformance/breakage"
	"mpcrelay/conformance/explore"
	"mpcrelay/faultproxy"
)

// hunt explores url with the default seeds, in order, until one run fails; it returns that run
// (nil when none fails) and the steps run until the failure.
func hunt(ctx context.Context, url string, timeout time.Duration, shrink time.Duration) (*explore.Result, int) {
	total := 0
	for _, seed := range explore.DefaultSeeds {
		res := explore.Run(ctx, explore.Config{URL: url, Seed: seed, Steps: explore.DefaultSteps,
			Timeout: timeout, Quiet: 100 * time.Millisecond, ShrinkBudget: shrink})
		if res.Failed {
			return res, total + res.FailStep + 1
		}
		total += res.Steps
	}
	return nil, total
}

// TestExplorerCatchesEveryBreakage runs the default exploration (its fixed seeds and step budget)
// against every breakage of package breakage and requires each to be caught, shrunk to a short
// failing run.
func TestExplorerCatchesEveryBreakage(t *testing.T) {
	strict := startRelay(t, false)
	compat := startRelay(t, true)
	type target struct {
		b    breakage.Breakage
		base string
	}
	var targets []target
	for _, b := range breakage.All {
		targets = append(targets, target{b, strict})
	}
	for _, b := range breakage.Realistic {
		targets = append(targets, target{b, strict})
	}
	for _, b := range breakage.RealisticOnCompat {
		targets = append(targets, target{b, compat})
	}
	if only := os.Getenv("BREAKAGE"); only != "" {
		targets = slices.DeleteFunc(targets, func(tg target) bool { return tg.b.Name != only })
	}
	type outcome struct {
		res   *explore.Result
		steps int
	}
	results := make([]outcome, len(targets))
	ctx := context.Background()
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i, tg := range targets {
		p, err := faultproxy.Start(tg.base, faultproxy.Options{}, tg.b.Rules()...)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			res, steps := hunt(ctx, p.URL(), 2*time.Second, 10*time.Second)
			results[i] = outcome{res, steps}
		}()
	}
	wg.Wait()
	var lines []string
	for i, tg := range targets {
		r := results[i]
		if r.res == nil {
			t.Errorf("breakage %s (%s): not caught in %d steps", tg.b.Name, tg.b.Description, r.steps)
			continue
		}
		lines = append(lines, fmt.Sprintf("%-28s found after %4d steps (seed %d), shrunk to %d steps in %d runs: %s", tg.b.Name, r.steps, r.res.Seed, len(r.res.Minimal), r.res.Runs, r.res.Replay()))
		if testing.Verbose() {
			t.Logf("%s\n%s\n%s\n%s", tg.b.Name, r.res.Expected, r.res.Actual, strings.Join(r.res.MinSteps, "\n"))
		}
	}
	t.Logf("\n%s", strings.Join(lines, "\n"))
}
