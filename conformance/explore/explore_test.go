package explore_test

import (
	"context"
	"os"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"mpcrelay/conformance/explore"
	"mpcrelay/faultproxy"
	"mpcrelay/relay"
)

func startRelay(t testing.TB, compat bool) string {
	t.Helper()
	cfg := relay.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.Compat = compat
	inst, err := relay.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inst.Shutdown(context.Background()) })
	return inst.URL()
}

// cleanTargets are the relays every exploration must pass: the reference relay in both modes
// and the bare fault-injecting proxy (no rules) in front of the strict one.
func cleanTargets(t testing.TB) map[string]string {
	strict := startRelay(t, false)
	p, err := faultproxy.Start(strict, faultproxy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return map[string]string{"strict": strict, "compat": startRelay(t, true), "bare-proxy": p.URL()}
}

// TestSameSeedSameSteps: a run's steps depend on its seed alone.
func TestSameSeedSameSteps(t *testing.T) {
	for _, seed := range []int64{7, 1 << 40} {
		if a, b := explore.Generate(seed, 1000), explore.Generate(seed, 1000); !reflect.DeepEqual(a, b) {
			t.Fatalf("two generations of seed %d differ", seed)
		}
	}
	a := explore.Generate(7, 300)
	if reflect.DeepEqual(a, explore.Generate(8, 300)) {
		t.Fatal("seeds 7 and 8 give the same run")
	}
}

// TestDefaultExplorationIsClean runs the default exploration (its seeds and step budget, as
// `mpcrelay conform` does) against the reference relay in both modes and the bare proxy: no
// frame may differ from the model.
func TestDefaultExplorationIsClean(t *testing.T) {
	for name, url := range cleanTargets(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			steps := 0
			var learned []string
			for _, seed := range explore.DefaultSeeds {
				res := explore.Run(context.Background(), explore.Config{URLs: []string{url}, Seed: seed, Steps: explore.DefaultSteps,
					Timeout: 5 * time.Second * raceSlowdown, Quiet: explore.DefaultQuiet})
				if res.Failed {
					t.Fatalf("seed %d failed at step %d:\n%s\n%s\n%s", seed, res.FailStep, res.Expected, res.Actual, explore.FormatTranscript(res.Lines))
				}
				steps += res.Steps
				learned = res.Learned
			}
			t.Logf("%d steps clean; the relay showed %v", steps, learned)
		})
	}
}

// TestManySeedsAreClean is the long clean run: MPCRELAY_EXPLORE_SEEDS=1000 explores seeds
// 1..1000 (MPCRELAY_EXPLORE_FIRST moves the start) against each clean target.
func TestManySeedsAreClean(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("MPCRELAY_EXPLORE_SEEDS"))
	if n <= 0 {
		t.Skip("set MPCRELAY_EXPLORE_SEEDS=1000 to explore that many seeds against the clean targets")
	}
	first, _ := strconv.ParseInt(os.Getenv("MPCRELAY_EXPLORE_FIRST"), 10, 64)
	if first == 0 {
		first = 1
	}
	for name, url := range cleanTargets(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			started := time.Now()
			var mu sync.Mutex
			steps, clean := 0, 0
			seeds := make(chan int64)
			var wg sync.WaitGroup
			for range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for seed := range seeds {
						res := explore.Run(context.Background(), explore.Config{URLs: []string{url}, Seed: seed, Steps: explore.DefaultSteps,
							Timeout: 5 * time.Second * raceSlowdown, Quiet: explore.DefaultQuiet})
						mu.Lock()
						steps += res.Steps
						if res.Failed {
							t.Errorf("seed %d failed at step %d (replay: %s):\n%s\n%s", seed, res.FailStep, res.Replay(), res.Expected, res.Actual)
						} else {
							clean++
						}
						mu.Unlock()
					}
				}()
			}
			for s := first; s < first+int64(n); s++ {
				seeds <- s
			}
			close(seeds)
			wg.Wait()
			el := time.Since(started)
			t.Logf("%s: %d of %d seeds clean (%d..%d), %d steps in %s (%.0f steps/s)", name, clean, n, first, first+int64(n)-1, steps, el.Round(time.Second), float64(steps)/el.Seconds())
		})
	}
}
