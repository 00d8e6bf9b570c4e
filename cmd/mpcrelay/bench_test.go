package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mpcrelay/scenarios/trace"
)

// bench runs the smoke scenario against the embedded relay and writes results.json,
// report.html and the recorded trace.
func TestBenchSmokeWritesReportAndTrace(t *testing.T) {
	dir := t.TempDir()
	tracePath := filepath.Join(dir, "smoke.jsonl")
	stdout, _, err := runCmd(t, "bench", "--scenario", "../../scenarios/examples/smoke.yaml", "--report-dir", dir, "--record", tracePath, "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "every signature verified") {
		t.Errorf("Expected: the verdict on stdout\nActual:   %q", stdout)
	}
	var res struct {
		Kind     string `json:"kind"`
		Passed   bool   `json:"passed"`
		Signings struct {
			Verified int `json:"verified"`
		} `json:"signings"`
		Machine struct {
			CPUs int `json:"cpus"`
		} `json:"machine"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil || json.Unmarshal(raw, &res) != nil {
		t.Fatalf("results.json: %v %s", err, raw)
	}
	if res.Kind != "bench" || !res.Passed || res.Signings.Verified != 2 || res.Machine.CPUs == 0 {
		t.Errorf("results.json: %+v", res)
	}
	if _, err := os.Stat(filepath.Join(dir, "report.html")); err != nil {
		t.Error(err)
	}
	f, err := os.Open(tracePath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if tr, err := trace.Read(f); err != nil || len(tr.Sessions) != 3 {
		t.Errorf("recorded trace: %v", err)
	}
}

func TestBenchRejectsInvalidScenarioNamingFieldAndLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte("name: bad\ncurve: eddsa\nthreshold: 1\nparties: 3\ngroups: lots\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := runCmd(t, "bench", "--scenario", path, "--quiet")
	if err == nil || !strings.Contains(err.Error(), "bad.yaml:5: groups:") {
		t.Errorf("Expected: an error naming bad.yaml:5 and groups\nActual:   %v", err)
	}
}

// An expected outcome that is not met exits 1.
func TestBenchUnmetOutcomeExitsOne(t *testing.T) {
	src, err := os.ReadFile("../../scenarios/examples/dropout-mid-keygen.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "wrong.yaml")
	if err := os.WriteFile(path, []byte(strings.Replace(string(src), "missing: [3]", "missing: [1]", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = runCmd(t, "bench", "--scenario", path, "--quiet", "--report-dir", t.TempDir())
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Errorf("Expected: exit code 1\nActual:   %v", err)
	}
}
