package report

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSummarizeNearestRank(t *testing.T) {
	var s []time.Duration
	for i := 100; i >= 1; i-- {
		s = append(s, time.Duration(i)*time.Millisecond)
	}
	l := Summarize(s)
	if l.Count != 100 || l.P50 != 50 || l.P90 != 90 || l.P99 != 99 || l.Max != 100 || l.Mean != 50.5 {
		t.Errorf("Expected: p50 50, p90 90, p99 99, max 100, mean 50.5\nActual:   %+v", l)
	}
	if (Summarize(nil) != Latency{}) {
		t.Error("empty samples must summarise to zero")
	}
}

func TestHistogramCountsEverySample(t *testing.T) {
	s := []time.Duration{10 * time.Microsecond, time.Millisecond, time.Millisecond, 40 * time.Millisecond}
	h := NewHistogram(s)
	if sum(h.Counts) != 4 || h.UpperMS[len(h.UpperMS)-1] < 40 {
		t.Errorf("histogram %+v", h)
	}
}

func TestWriteDirIsSelfContained(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	p := Page{Title: "T <x>", Passed: true, Verdict: "ok",
		Tables: []Table{{Title: "counts", Header: []string{"a"}, Rows: [][]string{{"1"}}}},
		Plots: []Plot{
			{Title: "lat", Histograms: []NamedHistogram{{Name: "relay", Histogram: NewHistogram([]time.Duration{time.Millisecond, 2 * time.Millisecond})}}},
			{Title: "tput", Lines: []Line{{Name: "relay", Values: []float64{1, 3, 2}}}},
		}}
	if err := WriteDir(dir, map[string]int{"n": 1}, p); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	html := string(page)
	for _, want := range []string{"<svg", "<rect", "<polyline", "T &lt;x&gt;", "PASS"} {
		if !strings.Contains(html, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	for _, banned := range []string{"<script", "src=\"http", "href=\"http"} {
		if strings.Contains(html, banned) {
			t.Errorf("report.html is not self-contained: has %q", banned)
		}
	}
	var v map[string]int
	raw, _ := os.ReadFile(filepath.Join(dir, "results.json"))
	if json.Unmarshal(raw, &v) != nil || v["n"] != 1 {
		t.Errorf("results.json: %s", raw)
	}
}
