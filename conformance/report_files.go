package conformance

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html/template"
	"io"
	"regexp"
	"strings"

	"github.com/onsi/ginkgo/v2/reporters"
)

// WriteJSON writes results.json.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// WriteJUnit writes junit.xml with Ginkgo's JUnit types: one testsuite per target, one testcase
// per case named by its id. Non-strict and info cases pass, with what they found in system-out.
func (rep *Report) WriteJUnit(w io.Writer) error {
	suites := reporters.JUnitTestSuites{Time: float64(rep.DurationMS) / 1000}
	index := map[string]int{}
	for _, t := range rep.Targets {
		index[t.Name] = len(suites.TestSuites)
		suites.TestSuites = append(suites.TestSuites, reporters.JUnitTestSuite{
			Name: "mpcrelay conformance: " + t.URL, Package: "mpcrelay/conformance",
			Timestamp:  rep.Started.Format("2006-01-02T15:04:05"),
			Properties: reporters.JUnitProperties{Properties: []reporters.JUnitProperty{{Name: "target", Value: t.URL}}},
		})
	}
	for _, r := range rep.Cases {
		si := 0
		if r.Target != "" {
			si = index[r.Target]
		}
		s := &suites.TestSuites[si]
		tc := reporters.JUnitTestCase{Name: r.ID, Classname: "§" + r.Section, Status: string(r.Outcome), Time: float64(r.DurationMS) / 1000}
		body := r.Detail
		if r.Transcript != "" {
			body += "\n\nTranscript:\n" + r.Transcript
		}
		switch r.Outcome {
		case Fail:
			tc.Failure = &reporters.JUnitFailure{Message: firstLine(r.Detail), Type: "failed", Description: body}
			s.Failures++
		case Flaky:
			tc.Failure = &reporters.JUnitFailure{Message: firstLine(r.Detail), Type: "flaky", Description: body}
			s.Failures++
		case Error:
			tc.Error = &reporters.JUnitError{Message: firstLine(r.Detail), Type: "error", Description: body}
			s.Errors++
		case Skipped:
			tc.Skipped = &reporters.JUnitSkipped{Message: "skipped - " + r.Detail}
			s.Skipped++
		case NonStrict, InfoOnly:
			tc.SystemOut = string(r.Outcome) + ": " + body
		}
		s.Tests++
		s.Time += tc.Time
		s.TestCases = append(s.TestCases, tc)
	}
	for _, s := range suites.TestSuites {
		suites.Tests += s.Tests
		suites.Failures += s.Failures
		suites.Errors += s.Errors
		suites.Disabled += s.Skipped
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(suites); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// matrixRow is one case across every target.
type matrixRow struct {
	ID, Section, Title, Level string
	Cells                     []Result
	First                     bool   // first row of its section
	SectionTitle              string // on the first row
}

// sectionRow is the per-section summary: counts per outcome and the failing cases.
type sectionRow struct {
	Number, Title string
	Counts        map[Outcome]int
	Failing       []Result
}

// anchorSafe matches the case ids and anchors that a link may carry unescaped, so that links
// read report.html#4.5/signup-event-exactly-once rather than #4.5%2fsignup-...
var anchorSafe = regexp.MustCompile(`^[A-Za-z0-9._/-]+$`)

// href is the link to an anchor (ids from a results.json on disk are escaped unless plain).
func href(anchor string) any {
	if anchorSafe.MatchString(anchor) {
		return template.URL("#" + anchor)
	}
	return "#" + anchor
}

// detailAnchor is the HTML id of a case's detail block; the case's row has the case id itself
// (report.html#4.5/signup-event-exactly-once).
func (rep *Report) detailAnchor(r Result) string {
	if len(rep.Targets) < 2 {
		return r.ID + "/detail"
	}
	for i, t := range rep.Targets {
		if t.Name == r.Target {
			return fmt.Sprintf("%s/detail/%d", r.ID, i+1)
		}
	}
	return r.ID + "/detail"
}

// WriteHTML writes a self-contained report.html: the summary, the failing cases first (fail,
// error, flaky, with links to their details), a summary per section, a row per case anchored by
// its id (a case × relay matrix with several targets), and the detail and transcript of every
// non-pass case.
func (rep *Report) WriteHTML(w io.Writer) error {
	titles := map[string]string{}
	for _, s := range Sections() {
		titles[s.Number] = s.Title
	}
	var rows []matrixRow
	var sections []*sectionRow
	at := map[string]int{}
	secAt := map[string]*sectionRow{}
	col := map[string]int{}
	for i, t := range rep.Targets {
		col[t.Name] = i
	}
	var failing, details []Result
	for _, r := range rep.Cases {
		i, ok := at[r.ID]
		if !ok {
			i = len(rows)
			at[r.ID] = i
			rows = append(rows, matrixRow{ID: r.ID, Section: r.Section, Title: r.Title, Level: r.Level, Cells: make([]Result, len(rep.Targets))})
		}
		c := 0
		if r.Target != "" {
			c = col[r.Target]
		}
		rows[i].Cells[c] = r
		sec := secAt[r.Section]
		if sec == nil {
			sec = &sectionRow{Number: r.Section, Title: titles[r.Section], Counts: map[Outcome]int{}}
			secAt[r.Section] = sec
			sections = append(sections, sec)
			rows[i].First, rows[i].SectionTitle = true, sec.Title
		}
		sec.Counts[r.Outcome]++
		if r.Outcome.Bad() {
			failing = append(failing, r)
			sec.Failing = append(sec.Failing, r)
		}
		if r.Outcome != Pass {
			details = append(details, r)
		}
	}
	return reportTemplate.Execute(w, map[string]any{
		"Rep": rep, "Rows": rows, "Sections": sections, "Failing": failing, "Details": details, "Outcomes": Outcomes,
		"Duration": fmt.Sprintf("%.1f s", float64(rep.DurationMS)/1000),
	})
}

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"detail":  func(rep *Report, r Result) string { return rep.detailAnchor(r) },
	"count":   func(m map[Outcome]int, o Outcome) int { return m[o] },
	"first":   firstLine,
	"href":    href,
	"columns": func(cells []Result) int { return 3 + len(cells) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>mpcrelay conformance report</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}.pass{background:#dff5df}.fail{background:#f9d0d0}.error{background:#f5c2f0}
.flaky{background:#f7b267}.non-strict{background:#fbeac0}.info{background:#d8e8fb}.skipped{background:#eee}
td.zero{color:#bbb}tr.section th{background:#e6e6f0}:target{outline:3px solid #36c}
pre{background:#f8f8f8;border:1px solid #ddd;padding:.6em;overflow-x:auto;font-size:12px}
code{font-size:13px}
</style></head><body>
<h1>mpcrelay conformance report</h1>
<p>Started {{.Rep.Started.Format "2006-01-02 15:04:05 UTC"}}, {{.Duration}}{{if .Rep.Strict}}, strict mode{{end}}{{if .Rep.Repeat}}, {{.Rep.Repeat}} runs (a case whose outcome differed between runs is flaky){{end}}.</p>
<table><tr><th>Target</th>{{range .Outcomes}}<th class="{{.}}">{{.}}</th>{{end}}</tr>
{{if .Rep.ByTarget}}{{range .Rep.Targets}}{{$m := index $.Rep.ByTarget .Name}}<tr><td><code>{{.URL}}</code></td>{{range $.Outcomes}}<td>{{count $m .}}</td>{{end}}</tr>{{end}}
{{else}}<tr><td><code>{{.Rep.Target}}</code></td>{{range .Outcomes}}<td>{{count $.Rep.Summary .}}</td>{{end}}</tr>{{end}}
</table>
{{if .Rep.HarnessErrors}}<h2>Harness errors</h2>{{range .Rep.HarnessErrors}}<pre>{{.}}</pre>{{end}}{{end}}
<h2 id="failing">Failing cases (fail, error, flaky)</h2>
{{if .Failing}}<table><tr><th>Case</th><th>Outcome</th>{{if .Rep.ByTarget}}<th>Target</th>{{end}}<th>Why</th></tr>
{{range .Failing}}<tr><td><a href="{{href .ID}}"><code>{{.ID}}</code></a></td><td class="{{.Outcome}}"><a href="{{href (detail $.Rep .)}}">{{.Outcome}}</a>{{if .Expected}} (expected {{.Expected}}){{end}}</td>{{if $.Rep.ByTarget}}<td><code>{{.Target}}</code></td>{{end}}<td>{{first .Detail}}</td></tr>
{{end}}</table>{{else}}<p>No case failed.</p>{{end}}
<h2 id="sections">By section</h2>
<table><tr><th>Section</th>{{range .Outcomes}}<th class="{{.}}">{{.}}</th>{{end}}<th>Failing</th></tr>
{{range .Sections}}{{$s := .}}<tr><td><a href="{{href (print "section-" .Number)}}">§{{.Number}} {{.Title}}</a></td>{{range $.Outcomes}}{{$n := count $s.Counts .}}<td{{if not $n}} class="zero"{{end}}>{{$n}}</td>{{end}}<td>{{range .Failing}}<a href="{{href .ID}}"><code>{{.ID}}</code></a> {{end}}</td></tr>
{{end}}</table>
<h2 id="cases">Cases</h2>
<table><tr><th>Case</th><th>Level</th><th>Requirement</th>{{range .Rep.Targets}}<th><code>{{.Name}}</code></th>{{end}}</tr>
{{range .Rows}}{{if .First}}<tr class="section" id="section-{{.Section}}"><th colspan="{{columns .Cells}}">§{{.Section}} {{.SectionTitle}}</th></tr>
{{end}}<tr id="{{.ID}}"><td><a href="{{href .ID}}"><code>{{.ID}}</code></a></td><td>{{.Level}}</td><td>{{.Title}}</td>{{range .Cells}}<td class="{{.Outcome}}">{{if and .Outcome (ne .Outcome "pass")}}<a href="{{href (detail $.Rep .)}}">{{.Outcome}}</a>{{else}}{{.Outcome}}{{end}}{{if .Expected}} (expected {{.Expected}}){{end}}{{if eq .Outcome "flaky"}}<br><small>runs: {{range .Runs}}{{.}} {{end}}</small>{{end}}</td>{{end}}</tr>
{{end}}</table>
<h2 id="details">Details of every non-pass case</h2>
{{range .Details}}<h3 id="{{detail $.Rep .}}" class="{{.Outcome}}"><a href="{{href .ID}}"><code>{{.ID}}</code></a> — {{.Outcome}}{{if .Target}} — <code>{{.Target}}</code>{{end}}</h3>
<p>{{.Title}} ({{.Level}}, {{.DurationMS}} ms{{if .Runs}}; runs: {{range .Runs}}{{.}} {{end}}{{end}})</p>
<pre>{{.Detail}}</pre>
{{if .Transcript}}<details open><summary>Wire transcript (→ sent by the harness, ← received from the relay)</summary><pre>{{.Transcript}}</pre></details>{{end}}
{{end}}
</body></html>
`))
