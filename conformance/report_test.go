package conformance

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func fakeReport(opts Options, outcomes map[string]Outcome) *Report {
	rep := newReport(opts, time.Now())
	for ti := range opts.Targets {
		for id, o := range outcomes {
			rep.add(opts, specResult{Target: ti, Case: id, Outcome: o, Detail: "Expected: x\nActual:   y", Transcript: "+0.001s A   → {}\n"})
		}
	}
	rep.finish(time.Now())
	return rep
}

func TestExitCodeStrictAndExpect(t *testing.T) {
	one := []Target{{Name: "r", URL: "ws://r/mpc"}}
	for _, tc := range []struct {
		name     string
		outcomes map[string]Outcome
		strict   bool
		expect   Expectations
		want     int
	}{
		{"all pass", map[string]Outcome{"4.5/signup-numbers-from-one": Pass}, false, nil, 0},
		{"non-strict passes", map[string]Outcome{"4.5/signup-beyond-required-refused": NonStrict}, false, nil, 0},
		{"strict turns non-strict into fail", map[string]Outcome{"4.5/signup-beyond-required-refused": NonStrict}, true, nil, 1},
		{"fail", map[string]Outcome{"4.5/signup-numbers-from-one": Fail, "4.6/load-zero-refused": Error}, false, nil, 1},
		{"error only", map[string]Outcome{"4.6/load-zero-refused": Error}, false, nil, 2},
		{"strict spares an expected non-strict", map[string]Outcome{"4.5/signup-beyond-required-refused": NonStrict}, true, Expectations{"4.5/signup-beyond-required-refused": NonStrict}, 0},
		{"expected fail", map[string]Outcome{"4.5/signup-numbers-from-one": Fail}, false, Expectations{"4.5/signup-numbers-from-one": Fail}, 0},
		{"expected something else", map[string]Outcome{"4.5/signup-numbers-from-one": Fail}, false, Expectations{"4.5/signup-numbers-from-one": NonStrict}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := fakeReport(Options{Targets: one, Strict: tc.strict, Expect: tc.expect}, tc.outcomes)
			if got := rep.ExitCode(); got != tc.want {
				t.Fatalf("exit code %d, got %d (%+v)", tc.want, got, rep.Cases)
			}
		})
	}
}

func TestReportFiles(t *testing.T) {
	targets := []Target{{Name: "ws://a/mpc", URL: "ws://a/mpc"}, {Name: "ws://b/mpc", URL: "ws://b/mpc"}}
	rep := fakeReport(Options{Targets: targets}, map[string]Outcome{"4.5/signup-numbers-from-one": Pass, "4.6/load-zero-refused": Fail, "4.2/member-rejoins-full-group": NonStrict})
	dir := t.TempDir()
	if err := rep.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	var res struct {
		Target     string          `json:"target"`
		Summary    map[string]int  `json:"summary"`
		DurationMS *int64          `json:"duration_ms"`
		Cases      []Result        `json:"cases"`
		Started    json.RawMessage `json:"started"`
	}
	data, _ := os.ReadFile(filepath.Join(dir, "results.json"))
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	if res.Target != "ws://a/mpc" || res.Summary["fail"] != 2 || res.Summary["pass"] != 2 || len(res.Cases) != 6 || res.DurationMS == nil || res.Started == nil {
		t.Fatalf("results.json: %s", data)
	}
	if res.Cases[0].ID != "4.2/member-rejoins-full-group" || res.Cases[0].Target != "ws://a/mpc" {
		t.Fatalf("cases in protocol order, targets in order: %+v", res.Cases[0])
	}
	var junit struct {
		Suites []struct {
			Cases []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	data, _ = os.ReadFile(filepath.Join(dir, "junit.xml"))
	if err := xml.Unmarshal(data, &junit); err != nil {
		t.Fatal(err)
	}
	if len(junit.Suites) != 2 || len(junit.Suites[0].Cases) != 3 {
		t.Fatalf("a testsuite per target with a testcase per case: %s", data)
	}
	failures := 0
	for _, c := range junit.Suites[1].Cases {
		if c.Failure != nil {
			failures++
			if c.Name != "4.6/load-zero-refused" {
				t.Fatalf("failure on %s", c.Name)
			}
		}
	}
	if failures != 1 {
		t.Fatalf("one failure per suite, got %d", failures)
	}
	html, _ := os.ReadFile(filepath.Join(dir, "report.html"))
	for _, want := range []string{"<code>ws://b/mpc</code>", "4.6/load-zero-refused", "Wire transcript", "Expected: x"} {
		if !bytes.Contains(html, []byte(want)) {
			t.Fatalf("report.html lacks %q", want)
		}
	}
	var sum strings.Builder
	rep.WriteSummary(&sum)
	if !strings.Contains(sum.String(), "FAIL 4.6/load-zero-refused [ws://b/mpc]") {
		t.Fatalf("summary names the failure per target:\n%s", sum.String())
	}
}

func TestSelectAndCaseIDs(t *testing.T) {
	for _, c := range Cases() {
		if !strings.HasPrefix(c.ID, c.Section().Number+"/") || strings.ContainsAny(c.ID, " \t") {
			t.Errorf("case id %q does not start with its section %s", c.ID, c.Section().Number)
		}
	}
	all, _ := Select("", nil)
	noCrypto, _ := Select("!crypto", nil)
	if len(all)-len(noCrypto) != 2 {
		t.Fatalf("two crypto cases, got %d", len(all)-len(noCrypto))
	}
	sec4, _ := Select("", []string{"4"})
	sec45, _ := Select("", []string{"4.5"})
	one, _ := Select("", []string{"4.5/signup-numbers-from-one"})
	if len(sec4) <= len(sec45) || len(sec45) < 5 || len(one) != 1 {
		t.Fatalf("focus 4: %d, 4.5: %d, one id: %d", len(sec4), len(sec45), len(one))
	}
	for _, c := range sec4 {
		if !strings.HasPrefix(c.ID, "4.") {
			t.Fatalf("focus 4 selected %s", c.ID)
		}
	}
	if _, err := Select("crypto &&", nil); err == nil {
		t.Fatal("a malformed label filter is an error")
	}
}

func TestLoadExpectations(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("# known deviations\n4.5/signup-beyond-required-refused: non-strict\n4.6/load-zero-refused: fail\n"), 0o644)
	e, err := LoadExpectations(good)
	if err != nil || e["4.6/load-zero-refused"] != Fail || len(e) != 2 {
		t.Fatalf("%v %v", e, err)
	}
	for _, bad := range []string{"4.5/no-such-case: fail\n", "4.6/load-zero-refused: broken\n", "- a list\n"} {
		p := filepath.Join(dir, "bad.yaml")
		os.WriteFile(p, []byte(bad), 0o644)
		if _, err := LoadExpectations(p); err == nil {
			t.Fatalf("expect file %q is refused", bad)
		}
	}
}

func TestReportHTMLFailingFirstSectionsAndAnchors(t *testing.T) {
	one := []Target{{Name: "ws://r/mpc", URL: "ws://r/mpc"}}
	rep := fakeReport(Options{Targets: one}, map[string]Outcome{"4.5/signup-numbers-from-one": Pass, "4.6/load-zero-refused": Fail, "4.2/member-rejoins-full-group": NonStrict})
	var b bytes.Buffer
	if err := rep.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	failing, sections, cases := strings.Index(html, `id="failing"`), strings.Index(html, `id="sections"`), strings.Index(html, `id="cases"`)
	if failing < 0 || sections < failing || cases < sections {
		t.Fatalf("failing cases, then sections, then cases: %d %d %d", failing, sections, cases)
	}
	if !strings.Contains(html[failing:sections], `href="#4.6/load-zero-refused/detail"`) || strings.Contains(html[failing:sections], "4.5/signup-numbers-from-one") {
		t.Fatalf("the failing list holds exactly the failing case, linked to its detail:\n%s", html[failing:sections])
	}
	for _, want := range []string{`<tr id="4.5/signup-numbers-from-one">`, `<h3 id="4.6/load-zero-refused/detail"`, `href="#section-4.6"`, `id="section-4.6"`, "§4.6 Session.load"} {
		if !strings.Contains(html, want) {
			t.Fatalf("report.html lacks %s", want)
		}
	}
}
