package report

import (
	"encoding/json"
	"fmt"
	"html"
	"html/template"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// Page is what report.html shows: a verdict, tables and plots. Bench and replay fill it from
// their results.
type Page struct {
	Title    string
	Subtitle string
	Passed   bool
	Verdict  string
	Tables   []Table
	Plots    []Plot
}

// Table is a titled table of strings.
type Table struct {
	Title  string
	Header []string
	Rows   [][]string
}

// Plot is one inline SVG plot: a latency histogram or lines over time.
type Plot struct {
	Title  string
	XLabel string
	YLabel string
	// Histograms are drawn as bars over their shared log-scale buckets (one colour each).
	Histograms []NamedHistogram
	// Lines are drawn over x = 0, 1, 2, ... (seconds of the run).
	Lines []Line
}

// NamedHistogram is one distribution of a histogram plot.
type NamedHistogram struct {
	Name string
	Histogram
}

// Line is one series of a line plot, over x = 0, 1, 2, ... or over X when given.
type Line struct {
	Name   string
	Values []float64
	X      []float64
	Dashed bool
}

var palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"}

const (
	plotW, plotH = 720, 260
	padL, padB   = 60, 40
	padT, padR   = 20, 20
)

// SVG renders the plot as a self-contained <svg> element.
func (p Plot) SVG() template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`, plotW, plotH, plotW, plotH)
	x0, y0, w, h := float64(padL), float64(plotH-padB), float64(plotW-padL-padR), float64(plotH-padT-padB)
	fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#333"/><line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#333"/>`,
		x0, y0, x0+w, y0, x0, y0, x0, y0-h)
	fmt.Fprintf(&b, `<text x="%g" y="%d" text-anchor="middle">%s</text>`, x0+w/2, plotH-6, html.EscapeString(p.XLabel))
	fmt.Fprintf(&b, `<text x="12" y="%g" text-anchor="middle" transform="rotate(-90 12 %g)">%s</text>`, y0-h/2, y0-h/2, html.EscapeString(p.YLabel))
	switch {
	case len(p.Histograms) > 0:
		p.histogramSVG(&b, x0, y0, w, h)
	case len(p.Lines) > 0:
		p.linesSVG(&b, x0, y0, w, h)
	default:
		fmt.Fprintf(&b, `<text x="%g" y="%g" text-anchor="middle">no data</text>`, x0+w/2, y0-h/2)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built from numbers and escaped text only
}

func (p Plot) histogramSVG(b *strings.Builder, x0, y0, w, h float64) {
	// Buckets: the longest bound list (all start at the same 0.05 ms and grow alike).
	var bounds []float64
	maxShare := 0.0
	for _, hg := range p.Histograms {
		if len(hg.UpperMS) > len(bounds) {
			bounds = hg.UpperMS
		}
		total := sum(hg.Counts)
		for _, c := range hg.Counts {
			if total > 0 {
				maxShare = math.Max(maxShare, float64(c)/float64(total))
			}
		}
	}
	if len(bounds) == 0 || maxShare == 0 {
		return
	}
	// Leave out the empty buckets below the smallest sample of any histogram.
	first := len(bounds) - 1
	for _, hg := range p.Histograms {
		for i, c := range hg.Counts {
			if c > 0 {
				first = min(first, i)
				break
			}
		}
	}
	bounds = bounds[first:]
	slot := w / float64(len(bounds))
	bar := slot / float64(len(p.Histograms))
	for k, hg := range p.Histograms {
		total := float64(sum(hg.Counts))
		for i, c := range hg.Counts {
			if i < first {
				continue
			}
			i -= first
			bh := float64(c) / total / maxShare * h
			fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>≤ %.3g ms: %d</title></rect>`,
				x0+float64(i)*slot+float64(k)*bar, y0-bh, math.Max(bar-0.5, 0.5), bh, palette[k%len(palette)], hg.UpperMS[i+first], c)
		}
	}
	step := max(1, len(bounds)/8)
	for i := 0; i < len(bounds); i += step {
		fmt.Fprintf(b, `<text x="%.1f" y="%g" text-anchor="middle">%.3g</text>`, x0+float64(i)*slot+slot/2, y0+14, bounds[i])
	}
	fmt.Fprintf(b, `<text x="%g" y="%g" text-anchor="end">%.0f%%</text>`, x0-4, y0-h+4, maxShare*100)
	p.legend(b, x0, names(p.Histograms))
}

func (p Plot) linesSVG(b *strings.Builder, x0, y0, w, h float64) {
	xAt := func(l Line, i int) float64 {
		if l.X != nil {
			return l.X[i]
		}
		return float64(i)
	}
	lo, hi, top := math.Inf(1), math.Inf(-1), 0.0
	for _, l := range p.Lines {
		for i, v := range l.Values {
			lo, hi = math.Min(lo, xAt(l, i)), math.Max(hi, xAt(l, i))
			top = math.Max(top, v)
		}
	}
	if hi <= lo || top == 0 {
		return
	}
	sx := func(x float64) float64 { return x0 + (x-lo)/(hi-lo)*w }
	var legend []string
	for k, l := range p.Lines {
		var pts []string
		for i, v := range l.Values {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", sx(xAt(l, i)), y0-v/top*h))
		}
		dash := ""
		if l.Dashed {
			dash = ` stroke-dasharray="5,4"`
		}
		fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="1.5"%s points="%s"/>`, palette[k%len(palette)], dash, strings.Join(pts, " "))
		if l.X != nil {
			for i, v := range l.Values {
				fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"><title>%s: %.4g at %.4g</title></circle>`,
					sx(xAt(l, i)), y0-v/top*h, palette[k%len(palette)], html.EscapeString(l.Name), v, xAt(l, i))
			}
		}
		legend = append(legend, l.Name)
	}
	for i := 0; i <= 8; i++ {
		x := lo + (hi-lo)*float64(i)/8
		fmt.Fprintf(b, `<text x="%.1f" y="%g" text-anchor="middle">%.4g</text>`, sx(x), y0+14, x)
	}
	fmt.Fprintf(b, `<text x="%g" y="%g" text-anchor="end">%.4g</text>`, x0-4, y0-h+4, top)
	p.legend(b, x0, legend)
}

func (p Plot) legend(b *strings.Builder, x0 float64, names []string) {
	for k, n := range names {
		x := x0 + 10 + float64(k)*130
		fmt.Fprintf(b, `<rect x="%g" y="6" width="10" height="10" fill="%s"/><text x="%g" y="15">%s</text>`, x, palette[k%len(palette)], x+14, html.EscapeString(n))
	}
}

func names(hs []NamedHistogram) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.Name
	}
	return out
}

func sum(xs []int) int {
	t := 0
	for _, x := range xs {
		t += x
	}
	return t
}

var page = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font-family:sans-serif;margin:2em;max-width:60em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f3f3f3}
.pass{color:#176b24}.fail{color:#a11}
figure{margin:1em 0}
</style></head><body>
<h1>{{.Title}}</h1>
{{if .Subtitle}}<p>{{.Subtitle}}</p>{{end}}
<p class="{{if .Passed}}pass{{else}}fail{{end}}"><strong>{{if .Passed}}PASS{{else}}FAIL{{end}}</strong> — {{.Verdict}}</p>
{{range .Tables}}<h2>{{.Title}}</h2><table>{{if .Header}}<tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr>{{end}}
{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
{{end}}{{range .Plots}}<figure><h2>{{.Title}}</h2>{{.SVG}}</figure>
{{end}}</body></html>
`))

// WriteHTML writes the page as a self-contained HTML document (no scripts, no external files).
func WriteHTML(w io.Writer, p Page) error { return page.Execute(w, p) }

// WriteDir writes DIR/results.json (v, indented) and DIR/report.html (p), creating DIR.
func WriteDir(dir string, v any, p Page) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report dir: %w", err)
	}
	js, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "report.html"))
	if err != nil {
		return err
	}
	if err := WriteHTML(f, p); err != nil {
		f.Close()
		return fmt.Errorf("write report.html: %w", err)
	}
	return f.Close()
}
