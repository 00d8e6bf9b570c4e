package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mpcrelay/conformance"
	"mpcrelay/faultproxy"
	"mpcrelay/relay"
	"mpcrelay/relay/protocol"
)

// TestMain lets `conform` re-execute this test binary as its workers.
func TestMain(m *testing.M) {
	if conformance.RunWorkerIfRequested() {
		os.Exit(0)
	}
	runMainIfRequested() // a child process playing `mpcrelay` (cluster_test.go)
	os.Exit(m.Run())
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 2 // main's default
}

// relayAndBrokenProxy starts the embedded relay and a proxy in front of it that answers -32000
// where the relay says -32603 (every 4.1 rule case fails through it).
func relayAndBrokenProxy(t *testing.T) (*relay.Instance, *faultproxy.Proxy) {
	inst, err := conformance.StartEmbedded(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Shutdown(context.Background()) })
	broken, err := faultproxy.Start(inst.URL(), faultproxy.Options{}, faultproxy.Rewrite("code", faultproxy.ToClient,
		faultproxy.ErrorResponse(protocol.CodeInternal), func(b []byte) []byte { return bytes.Replace(b, []byte("-32603"), []byte("-32000"), 1) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { broken.Close() })
	return inst, broken
}

func TestConformExitCodes(t *testing.T) {
	inst, broken := relayAndBrokenProxy(t)
	dir := t.TempDir()
	badExpect := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badExpect, []byte("4.1/no-such-case: fail\n"), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		want int
		out  string
	}{
		{"pass", []string{"conform", "--url", inst.URL(), "--focus", "4.1", "-p", "2", "--report-dir", filepath.Join(dir, "rep")}, 0, "0 fail"},
		{"fail", []string{"conform", "--url", broken.URL(), "--focus", "4.1"}, 1, "FAIL 4.1/parties-must-exceed-one"},
		{"unreachable", []string{"conform", "--url", "ws://127.0.0.1:1/mpc"}, 2, ""},
		{"bad flag value", []string{"conform", "--timeout", "0s"}, 2, ""},
		{"not a ws url", []string{"conform", "--url", "http://x"}, 2, ""},
		{"bad label filter", []string{"conform", "--label-filter", "crypto &&"}, 2, ""},
		{"bad expect file", []string{"conform", "--url", inst.URL(), "--expect", badExpect}, 2, ""},
		{"dry run", []string{"conform", "--dry-run", "--focus", "4.5"}, 0, "4.5/signup-event-exactly-at-threshold"},
		{"browser cases need --browser", []string{"conform", "--dry-run", "--label-filter", "browser"}, 2, ""},
		{"browser dry run", []string{"conform", "--dry-run", "--browser", "--label-filter", "browser"}, 0, "7/browser-keygen-flow"},
		// The proxy leads to the same relay, so this two-node "cluster" is one relay indeed.
		{"cluster", []string{"conform", "--cluster", "--url", inst.URL(), "--url", broken.URL(), "--focus", "4.2/join-returns-group"}, 0, "one relay on 2 nodes"},
		{"cluster of one node", []string{"conform", "--cluster", "--url", inst.URL()}, 2, ""},
		{"embedded cluster", []string{"conform", "--cluster", "--focus", "4.7/broadcast-reaches-every-other-party,4.5/signup-event-exactly-at-threshold"}, 0, "one relay on 3 nodes"},
		{"explore pass", []string{"conform", "--url", inst.URL(), "--explore", "--seed", "2", "--steps", "100"}, 0, "0 fail"},
		{"explore fail", []string{"conform", "--url", broken.URL(), "--explore", "--seed", "1", "--steps", "200", "--shrink-budget", "10s",
			"--report-dir", filepath.Join(dir, "explore")}, 1, "Replay: mpcrelay conform --explore --seed 1 --steps"},
		{"explore flags need --explore", []string{"conform", "--seed", "1"}, 2, ""},
		{"keep needs one seed and steps", []string{"conform", "--explore", "--seed", "1", "--keep", "3"}, 2, ""},
		{"explore with focus", []string{"conform", "--explore", "--focus", "4.5"}, 2, ""},
		{"dry run lists the exploration", []string{"conform", "--dry-run", "--focus", "explore"}, 0, "explore/1 "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := runCmd(t, tc.args...)
			if got := exitCode(err); got != tc.want {
				t.Fatalf("exit code %d, got %d (%v)\n%s", tc.want, got, err, out)
			}
			if !strings.Contains(out, tc.out) {
				t.Fatalf("output lacks %q:\n%s", tc.out, out)
			}
		})
	}
	for _, f := range []string{"results.json", "junit.xml", "report.html"} {
		if _, err := os.Stat(filepath.Join(dir, "rep", f)); err != nil {
			t.Errorf("report file: %v", err)
		}
	}
	// the failing exploration's replay command, as printed, fails again the same way
	data, err := os.ReadFile(filepath.Join(dir, "explore", "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Cases []struct{ ID, Outcome, Detail, Transcript string }
	}
	if err := json.Unmarshal(data, &rep); err != nil || len(rep.Cases) != 1 || rep.Cases[0].ID != "explore/1" || rep.Cases[0].Outcome != "fail" || rep.Cases[0].Transcript == "" {
		t.Fatalf("results.json of the failing exploration: %v %+v", err, rep.Cases)
	}
	line := rep.Cases[0].Detail[strings.Index(rep.Cases[0].Detail, "Replay: mpcrelay ")+len("Replay: mpcrelay "):]
	args := strings.Fields(line[:strings.Index(line, "\n")])
	out, _, err := runCmd(t, args...)
	if exitCode(err) != 1 || !strings.Contains(out, "FAIL explore/1") {
		t.Fatalf("replay %v: exit %d\n%s", args, exitCode(err), out)
	}
}

// A clean run is the baseline; the same cases against a relay with a wrong error code regress
// (exit 1 with --baseline and with report diff); the reverse direction only fixes (exit 0).
func TestConformBaselineAndReportDiff(t *testing.T) {
	inst, broken := relayAndBrokenProxy(t)
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good"), filepath.Join(dir, "bad")
	if out, _, err := runCmd(t, "conform", "--url", inst.URL(), "--focus", "4.1", "-p", "2", "--report-dir", good); err != nil {
		t.Fatalf("baseline run: %v\n%s", err, out)
	}
	out, _, err := runCmd(t, "conform", "--url", broken.URL(), "--focus", "4.1", "-p", "2", "--report-dir", bad, "--baseline", filepath.Join(good, "results.json"))
	if exitCode(err) != 1 || !strings.Contains(out, "REGRESSION 4.1/parties-must-exceed-one: pass → fail") {
		t.Fatalf("regressions exit 1 (got %d):\n%s", exitCode(err), out)
	}
	if _, err := os.Stat(filepath.Join(bad, "diff.json")); err != nil {
		t.Fatalf("diff.json beside the reports: %v", err)
	}
	// the broken run as baseline: its failures are known, so the same run exits 0
	out, _, err = runCmd(t, "conform", "--url", broken.URL(), "--focus", "4.1", "-p", "2", "--baseline", bad)
	if err != nil || !strings.Contains(out, "0 regressions") {
		t.Fatalf("known failures are no regression (exit %d):\n%s", exitCode(err), out)
	}
	out, _, err = runCmd(t, "report", "diff", good, bad)
	if exitCode(err) != 1 || !strings.Contains(out, "REGRESSION") {
		t.Fatalf("report diff good bad: exit %d\n%s", exitCode(err), out)
	}
	out, _, err = runCmd(t, "report", "diff", "--json", bad, good)
	if err != nil || !strings.Contains(out, `"kind": "fixed"`) {
		t.Fatalf("report diff --json bad good: exit %d\n%s", exitCode(err), out)
	}
	for _, args := range [][]string{{"report", "diff", good}, {"report", "diff", good, filepath.Join(dir, "missing.json")}, {"conform", "--baseline", filepath.Join(dir, "missing.json")}} {
		if _, _, err := runCmd(t, args...); exitCode(err) != 2 {
			t.Errorf("%v: exit 2, got %d (%v)", args, exitCode(err), err)
		}
	}
}

// conform --coverage prints the rule table and exits 0 while every MUST rule has a case and a
// breakage.
func TestConformCoverage(t *testing.T) {
	stdout, _, err := runCmd(t, "conform", "--coverage")
	if err != nil {
		t.Fatalf("Expected: exit 0; Actual: %v", err)
	}
	for _, want := range []string{
		"1.3.stream-order", "1.3/stream-order-under-volume", "stream-swap-now-and-then",
		"3.6.groups-independent", "session-lookup-ignores-group",
		"MUST rules checked by a case",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("Expected: %q in the table; Actual:\n%s", want, stdout)
		}
	}
}
