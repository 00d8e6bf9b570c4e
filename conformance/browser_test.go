package conformance

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mpcrelay/conformance/browser"
	"mpcrelay/faultproxy"
	"mpcrelay/relay/protocol"
)

// requireChromium skips a browser test outside CI when no Chromium is installed; in CI
// (CI=true) .ci/run installs Debian's chromium, so a missing one fails.
func requireChromium(t *testing.T) {
	if _, err := browser.Find(); errors.Is(err, browser.ErrNotFound) {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI: %v", err)
		}
		t.Skipf("%v", err)
	}
}

// TestBrowserCases runs every browser case against the embedded reference relay: all pass.
func TestBrowserCases(t *testing.T) {
	requireChromium(t)
	inst := startReference(t, false)
	cases, _ := Select("browser", nil)
	if len(cases) != 5 {
		t.Fatalf("5 browser cases, got %d", len(cases))
	}
	rep, err := Run(context.Background(), Options{Targets: []Target{{Name: inst.URL(), URL: inst.URL(), Embedded: true}}, Cases: cases,
		Config: Config{Timeout: DefaultTimeout * raceSlowdown}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range rep.HarnessErrors {
		t.Error(e)
	}
	for _, r := range rep.Cases {
		if r.Outcome != Pass {
			t.Errorf("%s: %s\n%s\n%s", r.ID, r.Outcome, r.Detail, r.Transcript)
		}
		t.Logf("%s: %s in %d ms", r.ID, r.Outcome, r.DurationMS)
	}
}

// The browser flows can fail: against a relay that never sends sessionClosed, and one that
// alters message bodies, both flows fail with Expected / Actual and the browser's frames in the
// transcript. Against a relay at --url (not the embedded one), the cases that check the
// reference relay's own options are skipped, with the reason.
func TestBrowserCasesCatchBrokenRelays(t *testing.T) {
	requireChromium(t)
	inst := startReference(t, false)
	noClose := startProxy(t, inst.URL(), faultproxy.Drop("no-sessionClosed", faultproxy.ToClient, faultproxy.Event(protocol.EventSessionClosed)))
	altered := startProxy(t, inst.URL(), faultproxy.Rewrite("ascii-body", faultproxy.ToClient, faultproxy.Event(protocol.EventSessionMessage),
		func(b []byte) []byte { return bytes.ReplaceAll(b, []byte(`"zero":0`), []byte(`"zero":"0"`)) }))
	cases, _ := Select("browser", nil)
	rep, err := Run(context.Background(), Options{Targets: []Target{{Name: "no-sessionClosed", URL: noClose.URL()}, {Name: "altered-body", URL: altered.URL()}},
		Cases: cases, Config: Config{Timeout: 2 * time.Second}}) // the browser's waits; passing flows take ~50 ms
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Cases {
		switch {
		case strings.HasPrefix(r.ID, "7/"):
			want := map[string]string{"no-sessionClosed": "sessionClosed", "altered-body": `"zero":"0"`}[r.Target]
			if r.Outcome != Fail || !strings.Contains(r.Detail, want) || !strings.Contains(r.Transcript, "bA  →") {
				t.Errorf("%s [%s]: fail naming %s with the browser's frames, got %s: %s\n%s", r.ID, r.Target, want, r.Outcome, r.Detail, r.Transcript)
			}
		default:
			if r.Outcome != Skipped || !strings.Contains(r.Detail, "runs only against the embedded reference relay") {
				t.Errorf("%s [%s]: skipped (not the embedded relay), got %s: %s", r.ID, r.Target, r.Outcome, r.Detail)
			}
		}
	}
	if rep.ExitCode() != 1 {
		t.Fatalf("exit code 1, got %d", rep.ExitCode())
	}
}

// Without Chromium every browser case is reported skipped, with the reason: never pass.
func TestBrowserCasesSkippedWithoutChromium(t *testing.T) {
	t.Setenv(browser.ExecEnv, filepath.Join(t.TempDir(), "no-chromium")) // inherited by the workers
	inst := startReference(t, false)
	cases, _ := Select("browser", nil)
	rep, err := Run(context.Background(), Options{Targets: []Target{{Name: inst.URL(), URL: inst.URL(), Embedded: true}}, Cases: cases})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Summary[Skipped] != len(cases) || rep.Summary[Pass] != 0 || rep.ExitCode() != 0 {
		t.Fatalf("all skipped, none passed, exit 0: %v", rep.Summary)
	}
	if !strings.Contains(rep.Cases[0].Detail, "no Chromium found") {
		t.Fatalf("the skip says why: %q", rep.Cases[0].Detail)
	}
}
