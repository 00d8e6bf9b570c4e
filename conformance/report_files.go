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

// anchorUnsafe matches what may not appear in an HTML id and its link unescaped.
var anchorUnsafe = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// matrixRow is one case across every target.
type matrixRow struct {
	ID, Section, Title, Level string
	Cells                     []Result
}

// WriteHTML writes a self-contained report.html: summary, a row per case (a case × relay matrix
// with several targets) and the transcript of every non-pass case.
func (rep *Report) WriteHTML(w io.Writer) error {
	var rows []matrixRow
	at := map[string]int{}
	col := map[string]int{}
	for i, t := range rep.Targets {
		col[t.Name] = i
	}
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
	}
	var details []Result
	for _, r := range rep.Cases {
		if r.Outcome != Pass {
			details = append(details, r)
		}
	}
	return reportTemplate.Execute(w, map[string]any{
		"Rep": rep, "Rows": rows, "Details": details, "Outcomes": Outcomes,
		"Duration": fmt.Sprintf("%.1f s", float64(rep.DurationMS)/1000),
	})
}

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"anchor": func(r Result) string { return anchorUnsafe.ReplaceAllString(r.ID+"-"+r.Target, "-") },
	"count":  func(m map[Outcome]int, o Outcome) int { return m[o] },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>mpcrelay conformance report</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}.pass{background:#dff5df}.fail{background:#f9d0d0}.error{background:#f5c2f0}
.flaky{background:#f7b267}.non-strict{background:#fbeac0}.info{background:#d8e8fb}.skipped{background:#eee}
pre{background:#f8f8f8;border:1px solid #ddd;padding:.6em;overflow-x:auto;font-size:12px}
code{font-size:13px}
</style></head><body>
<h1>mpcrelay conformance report</h1>
<p>Started {{.Rep.Started.Format "2006-01-02 15:04:05 UTC"}}, {{.Duration}}{{if .Rep.Strict}}, strict mode{{end}}.</p>
<table><tr><th>Target</th>{{range .Outcomes}}<th class="{{.}}">{{.}}</th>{{end}}</tr>
{{if .Rep.ByTarget}}{{range .Rep.Targets}}{{$m := index $.Rep.ByTarget .Name}}<tr><td><code>{{.URL}}</code></td>{{range $.Outcomes}}<td>{{count $m .}}</td>{{end}}</tr>{{end}}
{{else}}<tr><td><code>{{.Rep.Target}}</code></td>{{range .Outcomes}}<td>{{count $.Rep.Summary .}}</td>{{end}}</tr>{{end}}
</table>
<h2>Cases</h2>
<table><tr><th>Case</th><th>Level</th><th>Requirement</th>{{range .Rep.Targets}}<th><code>{{.Name}}</code></th>{{end}}</tr>
{{range .Rows}}<tr><td><code>{{.ID}}</code></td><td>{{.Level}}</td><td>{{.Title}}</td>{{range .Cells}}<td class="{{.Outcome}}">{{if and .Outcome (ne .Outcome "pass")}}<a href="#{{anchor .}}">{{.Outcome}}</a>{{else}}{{.Outcome}}{{end}}{{if .Expected}} (expected {{.Expected}}){{end}}</td>{{end}}</tr>
{{end}}</table>
<h2>Details of every non-pass case</h2>
{{range .Details}}<h3 id="{{anchor .}}" class="{{.Outcome}}"><code>{{.ID}}</code> — {{.Outcome}}{{if .Target}} — <code>{{.Target}}</code>{{end}}</h3>
<p>{{.Title}} ({{.Level}}, {{.DurationMS}} ms)</p>
<pre>{{.Detail}}</pre>
{{if .Transcript}}<details open><summary>Wire transcript (→ sent by the harness, ← received from the relay)</summary><pre>{{.Transcript}}</pre></details>{{end}}
{{end}}
</body></html>
`))
