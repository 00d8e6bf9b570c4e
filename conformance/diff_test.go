package conformance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCompareKindsOfChange(t *testing.T) {
	one := func(url string) Options { return Options{Targets: []Target{{Name: url, URL: url}}} }
	old := fakeReport(one("ws://127.0.0.1:1111/mpc"), map[string]Outcome{
		"4.1/create-returns-uuid":            Pass,    // → fail: regression
		"4.1/parties-must-exceed-one":        Fail,    // → pass: fixed
		"4.1/threshold-must-be-positive":     Pass,    // → non-strict: changed
		"4.1/threshold-below-parties":        Fail,    // → error: changed (bad before and after)
		"4.2/join-twice-idempotent":          Pass,    // unchanged
		"4.2/member-rejoins-full-group":      Pass,    // removed
		"4.5/signup-beyond-required-refused": Skipped, // → flaky: regression
	})
	cur := fakeReport(one("ws://127.0.0.1:2222/mpc"), map[string]Outcome{
		"4.1/create-returns-uuid":            Fail,
		"4.1/parties-must-exceed-one":        Pass,
		"4.1/threshold-must-be-positive":     NonStrict,
		"4.1/threshold-below-parties":        Error,
		"4.2/join-twice-idempotent":          Pass,
		"4.5/signup-numbers-from-one":        Fail, // new, failing: reported, not a regression
		"4.5/signup-beyond-required-refused": Flaky,
	})
	d := Compare(old, cur)
	ids := func(cs []Change) string {
		var out []string
		for _, c := range cs {
			out = append(out, c.ID+":"+string(c.Old)+">"+string(c.New))
		}
		return strings.Join(out, " ")
	}
	for name, got := range map[string]string{
		"regressions": ids(d.Regressions), "fixed": ids(d.Fixed), "changed": ids(d.Changed), "new": ids(d.New), "removed": ids(d.Removed),
	} {
		want := map[string]string{
			"regressions": "4.1/create-returns-uuid:pass>fail 4.5/signup-beyond-required-refused:skipped>flaky",
			"fixed":       "4.1/parties-must-exceed-one:fail>pass",
			"changed":     "4.1/threshold-must-be-positive:pass>non-strict 4.1/threshold-below-parties:fail>error",
			"new":         "4.5/signup-numbers-from-one:>fail",
			"removed":     "4.2/member-rejoins-full-group:pass>",
		}[name]
		if got != want {
			t.Errorf("%s: want %q, got %q", name, want, got)
		}
	}
	if d.Unchanged != 1 || d.ExitCode() != 1 {
		t.Fatalf("1 unchanged and exit 1: %d %d", d.Unchanged, d.ExitCode())
	}
	var b strings.Builder
	d.Write(&b)
	if !strings.Contains(b.String(), "REGRESSION 4.1/create-returns-uuid: pass → fail — Expected: x") ||
		!strings.Contains(b.String(), "2 regressions, 1 fixed, 2 changed, 1 new, 1 removed, 1 unchanged") {
		t.Fatalf("diff text:\n%s", b.String())
	}
	if Compare(cur, cur).ExitCode() != 0 {
		t.Fatal("a run compared with itself has no regression")
	}
	// An outcome the expect file lists is no regression.
	expected := fakeReport(Options{Targets: cur.Targets, Expect: Expectations{"4.1/create-returns-uuid": Fail}}, map[string]Outcome{"4.1/create-returns-uuid": Fail})
	if d := Compare(old, expected); len(d.Regressions) != 0 {
		t.Fatalf("expected fail counted as a regression: %+v", d.Regressions)
	}
}

func TestCompareSeveralTargetsMatchesByName(t *testing.T) {
	two := Options{Targets: []Target{{Name: "a", URL: "ws://a/mpc"}, {Name: "b", URL: "ws://b/mpc"}}}
	old := fakeReport(two, map[string]Outcome{"4.1/create-returns-uuid": Pass})
	cur := fakeReport(two, map[string]Outcome{"4.1/create-returns-uuid": Pass})
	cur.Cases[1].Outcome = Fail // target b
	d := Compare(old, cur)
	if len(d.Regressions) != 1 || d.Regressions[0].Target != "b" || d.Unchanged != 1 {
		t.Fatalf("one regression on b: %+v", d)
	}
}

func TestLoadReportRefusesOtherFiles(t *testing.T) {
	dir := t.TempDir()
	rep := fakeReport(Options{Targets: []Target{{Name: "r", URL: "ws://r/mpc"}}}, map[string]Outcome{"4.1/create-returns-uuid": Pass})
	if err := rep.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	if got, err := LoadReport(dir); err != nil || len(got.Cases) != 1 {
		t.Fatalf("a report directory loads its results.json: %v", err)
	}
	for name, body := range map[string]string{"junk.json": "not json", "other.json": `{"scenario":"x"}`, "bad.json": `{"targets":[{"name":"r"}],"cases":[{"id":"x","outcome":"great"}]}`} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		if _, err := LoadReport(p); err == nil {
			t.Errorf("%s loaded", name)
		}
	}
}
