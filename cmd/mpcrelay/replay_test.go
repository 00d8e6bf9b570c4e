package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
