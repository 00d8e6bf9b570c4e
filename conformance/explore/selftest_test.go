package explore_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"mpcrelay/conformance/breakage"
	"mpcrelay/conformance/explore"
	"mpcrelay/faultproxy"
)

// breakages lists every breakage with the relay it sits in front of: the self-test's (package
// breakage, All) and the realistic ones of issue #12 — those without a Rule; the others are
// bugs the explorer does not reach, which hand-written cases catch (the conformance self-test).
func breakages() (list []breakage.Breakage, onCompat map[string]bool) {
	onCompat = map[string]bool{}
	list = append(list, breakage.All...)
	for _, b := range breakage.Realistic {
		if b.Rule == "" {
			list = append(list, b)
		}
	}
	for _, b := range breakage.RealisticOnCompat {
		if b.Rule == "" {
			list = append(list, b)
			onCompat[b.Name] = true
		}
	}
	return list, onCompat
}

// breakageURL starts the named breakage and returns the URL to explore.
func breakageURL(t testing.TB, name string) string {
	list, onCompat := breakages()
	for _, b := range list {
		if b.Name == name {
			p, err := faultproxy.Start(startRelay(t, onCompat[name]), faultproxy.Options{}, b.Rules()...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { p.Close() })
			return p.URL()
		}
	}
	t.Fatalf("no breakage %q", name)
	return ""
}

// hunt explores url with the default seeds in order until a run fails; it returns that run (nil
// when none fails) and the steps run until the failure, over all seeds.
func hunt(ctx context.Context, url string, timeout, shrink time.Duration) (*explore.Result, int) {
	total := 0
	for _, seed := range explore.DefaultSeeds {
		res := explore.Run(ctx, explore.Config{URLs: []string{url}, Seed: seed, Steps: explore.DefaultSteps,
			Timeout: timeout, Quiet: 100 * time.Millisecond, ShrinkBudget: shrink})
		if res.Failed {
			return res, total + res.FailStep + 1
		}
		total += res.Steps
	}
	return nil, total
}

// TestExplorerCatchesEveryBreakage runs the default exploration (its fixed seeds and step budget)
// against every breakage — the hand-written cases' self-test breakages and the realistic ones no
// hand-written case catches — and requires each to be caught. MPCRELAY_EXPLORE_FIGURES=1 also
// shrinks each failing run (30 s budget) and prints the table of the README.
func TestExplorerCatchesEveryBreakage(t *testing.T) {
	figures := os.Getenv("MPCRELAY_EXPLORE_FIGURES") != ""
	shrink := time.Duration(0)
	if figures {
		shrink = explore.DefaultShrinkBudget
	}
	list, onCompat := breakages()
	strict, compat := startRelay(t, false), startRelay(t, true)
	type outcome struct {
		res   *explore.Result
		steps int
	}
	results := make([]outcome, len(list))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, b := range list {
		base := strict
		if onCompat[b.Name] {
			base = compat
		}
		p, err := faultproxy.Start(base, faultproxy.Options{}, b.Rules()...)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			res, steps := hunt(context.Background(), p.URL(), 2*time.Second, shrink)
			results[i] = outcome{res, steps}
		}()
	}
	wg.Wait()
	lines := []string{"| breakage | steps until found | shrunk to | replay |", "|---|---|---|---|"}
	for i, b := range list {
		r := results[i]
		if r.res == nil {
			t.Errorf("breakage %s (%s): not caught by the default exploration (%d steps)", b.Name, b.Description, r.steps)
			continue
		}
		shrunk := "–"
		if figures {
			shrunk = fmt.Sprintf("%d steps, %d frames (%d runs, %.0fs)", r.res.MinimalSteps(), len(r.res.Minimal), r.res.Runs, r.res.ShrinkFor.Seconds())
		}
		lines = append(lines, fmt.Sprintf("| %s | %d | %s | `%s` |", b.Name, r.steps, shrunk, r.res.Replay()))
		if testing.Verbose() {
			t.Logf("%s:\n%s\n%s\n  %s", b.Name, r.res.Expected, r.res.Actual, strings.Join(r.res.MinSteps, "\n  "))
		}
	}
	t.Logf("default exploration against %d breakages:\n%s", len(list), strings.Join(lines, "\n"))
}

// TestShrinking: failing runs shrink to a few steps that fail the same way, and the printed
// --keep command line replays exactly that failure.
func TestShrinking(t *testing.T) {
	for _, c := range []struct {
		breakage string
		atMost   int
	}{{"label-cut-64-bytes", 2}, {"load-accepts-out-of-range", 2}, {"event-before-response", 2}} {
		t.Run(c.breakage, func(t *testing.T) {
			t.Parallel()
			url := breakageURL(t, c.breakage)
			timeout := 2 * time.Second * min(raceSlowdown, 2)
			res, _ := hunt(context.Background(), url, timeout, 60*time.Second)
			if res == nil || !res.Shrunk && res.FailStep > 0 {
				t.Fatalf("not caught, or not shrunk: %+v", res)
			}
			if len(res.Minimal) > c.atMost {
				t.Errorf("shrunk to %d frames, want at most %d: %v", len(res.Minimal), c.atMost, res.MinSteps)
			}
			again := explore.Run(context.Background(), explore.Config{URLs: []string{url}, Seed: res.Seed, Steps: res.FailStep + 1, Keep: strings.Split(res.Keep, ","),
				Timeout: timeout, Quiet: explore.DefaultQuiet})
			if !again.Failed || fmt.Sprint(again.Minimal) != fmt.Sprint(res.Minimal) || maskUUIDs(again.Actual) != maskUUIDs(res.Actual) {
				t.Errorf("replaying %s: failed %v at %v, %q; want the shrunk run's failure at %v, %q", res.Replay(), again.Failed, again.Minimal, again.Actual, res.Minimal, res.Actual)
			}
			t.Logf("%s: from step %d to %d frames in %d runs: %s", c.breakage, res.FailStep, len(res.Minimal), res.Runs, res.Replay())
		})
	}
}

var uuidText = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)

// maskUUIDs hides the uuids a relay issues anew in every run.
func maskUUIDs(s string) string { return uuidText.ReplaceAllString(s, "<uuid>") }
