package explore_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"mpcrelay/conformance/breakage"
	"mpcrelay/conformance/explore"
	"mpcrelay/faultproxy"
	"mpcrelay/relay"
)

func startRelay(t *testing.T, compat bool) string {
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

func TestDevRun(t *testing.T) {
	seed, _ := strconv.ParseInt(os.Getenv("SEED"), 10, 64)
	steps, _ := strconv.Atoi(os.Getenv("STEPS"))
	if steps == 0 {
		steps = 300
	}
	url := startRelay(t, os.Getenv("COMPAT") != "")
	res := explore.Run(context.Background(), explore.Config{URL: url, Seed: seed, Steps: steps, Timeout: 2 * time.Second, Quiet: 100 * time.Millisecond, ShrinkBudget: 20 * time.Second})
	t.Logf("seed %d: %d steps %d frames in %s (%.0f steps/s); learned %v", seed, res.Steps, res.Frames, res.Elapsed, float64(res.Steps)/res.Elapsed.Seconds(), res.Learned)
	if res.Failed {
		t.Errorf("failed at step %d (replay %s), shrunk to %d in %d runs\n%s\n%s\nsteps:\n%s\ntranscript:\n%s", res.FailStep, res.Replay(), len(res.Minimal), res.Runs, res.Expected, res.Actual, res.MinSteps, explore.FormatTranscript(res.Lines))
	}
}

func TestDevKeep(t *testing.T) {
	seed, _ := strconv.ParseInt(os.Getenv("SEED"), 10, 64)
	steps, _ := strconv.Atoi(os.Getenv("STEPS"))
	var keep []int
	for _, k := range strings.Split(os.Getenv("KEEP"), ",") {
		n, _ := strconv.Atoi(k)
		keep = append(keep, n)
	}
	url := startRelay(t, os.Getenv("COMPAT") != "")
	res := explore.Run(context.Background(), explore.Config{URL: url, Seed: seed, Steps: steps, Keep: keep, Timeout: 2 * time.Second, Quiet: 100 * time.Millisecond})
	if res.Failed {
		t.Errorf("failed at step %d\n%s\n%s\ntranscript:\n%s", res.FailStep, res.Expected, res.Actual, explore.FormatTranscript(res.Lines))
	}
}

func TestDevKeepBreakage(t *testing.T) {
	seed, _ := strconv.ParseInt(os.Getenv("SEED"), 10, 64)
	steps, _ := strconv.Atoi(os.Getenv("STEPS"))
	var keep []int
	for _, k := range strings.Split(os.Getenv("KEEP"), ",") {
		n, _ := strconv.Atoi(k)
		keep = append(keep, n)
	}
	url := startRelay(t, os.Getenv("COMPAT") != "")
	for _, b := range breakage.All {
		if b.Name != os.Getenv("BREAKAGE") {
			continue
		}
		p, err := faultproxy.Start(url, faultproxy.Options{}, b.Rules()...)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		url = p.URL()
	}
	for range 5 {
		res := explore.Run(context.Background(), explore.Config{URL: url, Seed: seed, Steps: steps, Keep: keep, Timeout: 2 * time.Second, Quiet: 100 * time.Millisecond})
		t.Logf("failed %v at %d: %s / %s", res.Failed, res.FailStep, res.Expected, res.Actual)
		if os.Getenv("V") != "" {
			t.Logf("%s", explore.FormatTranscript(res.Lines))
		}
	}
}
