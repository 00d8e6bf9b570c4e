package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mpcrelay/forwarder"
)

// replay of the checked-in trace through the embedded relay and the forwarder baseline.
func TestReplayCheckedInTraceWithBaseline(t *testing.T) {
	dir := t.TempDir()
	stdout, _, err := runCmd(t, "replay", "--groups", "6", "--baseline", "--quiet", "--report-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "relay/forwarder: messages/s") {
		t.Errorf("Expected: ratios on stdout\nActual:   %q", stdout)
	}
	var res struct {
		Passed bool `json:"passed"`
		Relay  struct {
			Delivered int64 `json:"delivered"`
			Lost      int64 `json:"lost"`
		} `json:"relay"`
		Ratios *struct {
			MessagesPerSec float64 `json:"messages_per_s"`
		} `json:"ratios_to_baseline"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil || json.Unmarshal(raw, &res) != nil {
		t.Fatalf("results.json: %v", err)
	}
	if !res.Passed || res.Relay.Delivered == 0 || res.Relay.Lost != 0 || res.Ratios == nil || res.Ratios.MessagesPerSec <= 0 {
		t.Errorf("results.json: %s", raw)
	}
}

// A replay scenario runs through bench.
func TestBenchRunsReplayScenario(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.yaml")
	if err := os.WriteFile(path, []byte("name: r\nmode: replay\ngroups: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, _, err := runCmd(t, "bench", "--scenario", path, "--quiet", "--report-dir", t.TempDir())
	if err != nil || !strings.Contains(stdout, "reached exactly its parties") {
		t.Errorf("Expected: a clean replay\nActual:   %v %q", err, stdout)
	}
}

func TestReplayRejectsBadFlags(t *testing.T) {
	if _, _, err := runCmd(t, "replay", "--groups", "0"); err == nil {
		t.Error("--groups 0 was accepted")
	}
	if _, _, err := runCmd(t, "replay", "--trace", filepath.Join(t.TempDir(), "none.jsonl")); err == nil {
		t.Error("a missing trace file was accepted")
	}
}

// Bad rates, durations, segments and SLOs: a one-line error and exit code 2 (not 1), before
// any load is sent.
func TestReplayRejectsBadLoadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--rate", "-1"}, {"--rate", "NaN"}, {"--rate", "+Inf"}, {"--rate", "1e-12"}, {"--time-scale", "-0.5"},
		{"--duration", "-1s"}, {"--session-timeout", "0s"},
		{"--segment", "0/3"}, {"--segment", "4/3"}, {"--segment", "1/x"}, {"--segment", "2/20"},
		{"--start-at", "yesterday"},
		{"--sweep", "--slo", "0s"}, {"--sweep", "--slo", "-5ms"}, {"--sweep", "--sweep-factor", "1"},
		{"--sweep", "--sweep-start", "0"}, {"--sweep", "--sweep-start", "1e-12"}, {"--sweep", "--sweep-step", "0s"}, {"--sweep", "--rate", "10"},
		{"--sweep", "--segment", "1/2"}, {"--sweep", "--sweep-max", "5", "--sweep-start", "10"},
		{"--url", "http://x"}, {"--relay-pid", "12"},
	} {
		_, _, err := runCmd(t, append([]string{"replay", "--quiet", "--report-dir", t.TempDir()}, args...)...)
		var ee *exitError
		if err == nil || errors.As(err, &ee) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: Expected: a one-line error, exit 2\nActual:   %v", args, err)
		}
	}
}

// A rate whose gap between sessions (1/rate s) is beyond what the schedule's int64 nanoseconds
// hold (292 years) is bad input: the process exits 2 with one line naming the flag and the
// bound, before any connection (it once ran the sessions back to back, the due times wrapped).
func TestReplayRateBelowTheScheduleExits2(t *testing.T) {
	for _, args := range [][]string{{"--rate", "1e-12"}, {"--sweep", "--sweep-start", "1e-11"}} {
		// Bounded: where the rate is taken, a real run begins (a sweep of 5 s steps).
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, os.Args[0])
		cmd.Env = append(os.Environ(), runAsMPCRelay+"="+strings.Join(append([]string{"replay", "--quiet", "--groups", "1",
			"--report-dir", t.TempDir()}, args...), "\x1f"))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%v\nExpected: exit 2\nActual:   %v", args, err)
		}
		msg := strings.TrimSuffix(stderr.String(), "\n")
		if strings.Contains(msg, "\n") || !strings.Contains(msg, args[len(args)-2]+" must be 0 or at least 1.084e-10 sessions/s") {
			t.Errorf("%v\nExpected: one line naming %s and the bound 1.084e-10 sessions/s\nActual:   %q", args, args[len(args)-2], msg)
		}
	}
}

// An open-loop replay reports its schedule and the generator's CPU next to the relay's.
func TestReplayOpenLoopReportsScheduleAndCPU(t *testing.T) {
	dir := t.TempDir()
	stdout, _, err := runCmd(t, "replay", "--select", "eddsa", "--groups", "4", "--rate", "40", "--duration", "500ms",
		"--quiet", "--report-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Relay struct {
			OpenLoop   bool   `json:"open_loop"`
			LatencyHDR string `json:"delivery_latency_hdr"`
			Schedule   *struct {
				SessionsDue int64  `json:"sessions_due"`
				Verdict     string `json:"verdict"`
			} `json:"schedule"`
			Usage *struct {
				GeneratorCPU float64 `json:"generator_cpu_per_delivery_us"`
				Saturated    string  `json:"saturated"`
			} `json:"usage"`
		} `json:"relay"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil || json.Unmarshal(raw, &res) != nil {
		t.Fatalf("results.json: %v", err)
	}
	r := res.Relay
	if !r.OpenLoop || r.LatencyHDR == "" || r.Schedule == nil || r.Schedule.SessionsDue != 20 || r.Usage == nil || r.Usage.GeneratorCPU <= 0 || r.Usage.Saturated == "" {
		t.Errorf("Expected: open loop, 20 sessions due, a histogram, CPU figures\nActual:   %s", raw)
	}
	if !strings.Contains(stdout, "schedule") || !strings.Contains(stdout, "cpu") {
		t.Errorf("Expected: schedule and cpu lines on stdout\nActual:   %q", stdout)
	}
}

// A capacity search against the embedded relay and the forwarder writes both knees and plots.
func TestReplaySweepFindsKnees(t *testing.T) {
	dir := t.TempDir()
	stdout, _, err := runCmd(t, "replay", "--select", "eddsa", "--groups", "20", "--time-scale", "0.01", "--sweep", "--sweep-start", "5",
		"--sweep-factor", "2", "--sweep-max", "10", "--sweep-step", "500ms", "--sweep-refine", "0", "--slo", "10s",
		"--baseline", "--quiet", "--report-dir", dir)
	if err != nil {
		t.Fatal(err, stdout)
	}
	var res struct {
		Relay, Baseline *struct {
			Knee  float64 `json:"knee_sessions_per_s"`
			Steps []struct {
				Pass bool `json:"pass"`
			} `json:"steps"`
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil || json.Unmarshal(raw, &res) != nil {
		t.Fatalf("results.json: %v", err)
	}
	if res.Relay == nil || res.Baseline == nil || res.Relay.Knee != 10 || res.Baseline.Knee != 10 || len(res.Relay.Steps) != 2 {
		t.Errorf("Expected: both targets pass 5 and 10 sessions/s under a 10 s SLO\nActual:   %s", raw)
	}
	page, _ := os.ReadFile(filepath.Join(dir, "report.html"))
	if !strings.Contains(string(page), "Achieved against offered load") || !strings.Contains(string(page), "<polyline") {
		t.Error("report.html has no plot of achieved against offered load")
	}
}

// replay --segment i/n writes slices that report merge puts back together.
func TestReportMergeJoinsSegments(t *testing.T) {
	var dirs []string
	for i := 1; i <= 2; i++ {
		dir := t.TempDir()
		if _, _, err := runCmd(t, "replay", "--select", "eddsa", "--groups", "4", "--segment", fmt.Sprintf("%d/2", i), "--quiet", "--report-dir", dir); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, dir)
	}
	out := t.TempDir()
	stdout, _, err := runCmd(t, append([]string{"report", "merge", "--out", out}, dirs...)...)
	if err != nil || !strings.Contains(stdout, "2 segments merged") {
		t.Fatalf("Expected: a merged report\nActual:   %v %q", err, stdout)
	}
	var res struct {
		MergedFrom []string `json:"merged_from"`
		Relay      struct {
			Groups int `json:"groups"`
		} `json:"relay"`
	}
	raw, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil || json.Unmarshal(raw, &res) != nil || res.Relay.Groups != 4 || len(res.MergedFrom) != 2 {
		t.Errorf("Expected: 4 groups from 2 segments\nActual:   %s", raw)
	}
	if _, _, err := runCmd(t, "report", "merge", "--out", t.TempDir(), dirs[0]); err == nil {
		t.Error("Expected: one segment of two refused")
	}
}

// --baseline-url compares with a forwarder running elsewhere (mpcrelay forwarder).
func TestReplayBaselineURL(t *testing.T) {
	furl, stop, err := forwarder.Start(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stop(context.Background()) })
	dir := t.TempDir()
	stdout, _, err := runCmd(t, "replay", "--select", "eddsa", "--groups", "3", "--baseline-url", furl, "--quiet", "--report-dir", dir)
	if err != nil || !strings.Contains(stdout, "relay/forwarder") {
		t.Fatalf("Expected: a baseline through %s\nActual:   %v %q", furl, err, stdout)
	}
	if _, _, err := runCmd(t, "replay", "--baseline-url", "http://x", "--quiet"); err == nil {
		t.Error("Expected: a bad --baseline-url refused")
	}
}

// bench --sweep searches the capacity of a replay scenario; a bench scenario has none to search.
func TestBenchSweepOfReplayScenario(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.yaml")
	if err := os.WriteFile(path, []byte("name: r\nmode: replay\ngroups: 10\ntime_scale: 0.01\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, _, err := runCmd(t, "bench", "--scenario", path, "--sweep", "--sweep-start", "5", "--sweep-max", "5",
		"--sweep-step", "300ms", "--slo", "10s", "--quiet", "--report-dir", filepath.Join(dir, "out"))
	if err != nil || !strings.Contains(stdout, "relay: knee 5 sessions/s") {
		t.Errorf("Expected: a knee at 5 sessions/s\nActual:   %v %q", err, stdout)
	}
	smoke := filepath.Join("..", "..", "scenarios", "examples", "smoke.yaml")
	if _, _, err := runCmd(t, "bench", "--scenario", smoke, "--sweep", "--quiet"); err == nil || !strings.Contains(err.Error(), "mode: replay") {
		t.Errorf("Expected: --sweep of a bench scenario refused\nActual:   %v", err)
	}
}

// An interrupted replay or capacity search writes what it measured, is not passed, and says so
// (exit 2): the sessions it ran may all be clean, yet the load was not the one asked for. So
// too when it is interrupted before its schedule starts.
func TestInterruptedRunsWriteResultsAndAreNotPassed(t *testing.T) {
	for name, tc := range map[string]struct {
		args  []string
		after time.Duration
		kind  string // of results.json; "" = not checked
	}{
		"replay mid-run":             {[]string{"--duration", "20s"}, 2 * time.Second, ""},
		"replay waiting for --start": {[]string{"--start-at", time.Now().Add(time.Minute).UTC().Format(time.RFC3339)}, 2 * time.Second, ""},
		"sweep": {[]string{"--time-scale", "0.01", "--sweep", "--sweep-start", "5", "--sweep-step", "500ms", "--slo", "10s"},
			1500 * time.Millisecond, "sweep"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			root := newRoot()
			root.SetArgs(append([]string{"replay", "--select", "eddsa", "--groups", "4", "--quiet", "--report-dir", dir}, tc.args...))
			root.SetOut(io.Discard)
			ctx, cancel := context.WithTimeout(context.Background(), tc.after)
			defer cancel()
			err := root.ExecuteContext(ctx)
			var ee *exitError
			if err == nil || !strings.Contains(err.Error(), "interrupted") || errors.As(err, &ee) {
				t.Fatalf("Expected: the run interrupted (exit 2)\nActual:   %v", err)
			}
			var res struct {
				Kind    string `json:"kind"`
				Passed  bool   `json:"passed"`
				Verdict string `json:"verdict"`
			}
			raw, rerr := os.ReadFile(filepath.Join(dir, "results.json"))
			if rerr != nil || json.Unmarshal(raw, &res) != nil || res.Passed || !strings.HasPrefix(res.Verdict, "interrupted") ||
				(tc.kind != "" && res.Kind != tc.kind) {
				t.Errorf("Expected: results.json of the interrupted run, not passed\nActual:   %.300s %v", raw, rerr)
			}
		})
	}
}
