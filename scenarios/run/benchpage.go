package run

import (
	"fmt"
	"sort"

	"mpcrelay/scenarios/report"
)

// Page is the report.html of a bench run.
func (res *BenchResults) Page() report.Page {
	s := res.Scenario
	p := report.Page{Title: "mpcrelay bench: " + s.Name, Passed: res.Passed, Verdict: res.Verdict,
		Subtitle: fmt.Sprintf("%s %d-of-%d, %d groups, join %s, against %s, %s (%.1f s)",
			s.Curve, s.Threshold+1, s.Parties, s.Groups, s.Join, res.Target, res.Started.Format("2006-01-02 15:04:05 UTC"), res.DurationSec)}
	counts := func(name string, c Counts) []string {
		return []string{name, fmt.Sprint(c.Attempted), fmt.Sprint(c.Succeeded), fmt.Sprint(c.Failed), fmt.Sprint(c.Reasons)}
	}
	p.Tables = append(p.Tables, report.Table{Title: "Operations", Header: []string{"", "attempted", "succeeded", "failed", "failure reasons"},
		Rows: [][]string{counts("keygens", res.Keygens), counts("signings", res.Signings)}})
	p.Tables = append(p.Tables, report.Table{Title: "Throughput", Rows: [][]string{
		{"verified signatures/s", fmt.Sprintf("%.3f", res.SignaturesPerSec)},
		{"keygens/s", fmt.Sprintf("%.3f", res.KeygensPerSec)},
	}})
	var names []string
	for n := range res.Latency {
		names = append(names, n)
	}
	sort.Strings(names)
	lt := report.Table{Title: "Latency per phase (ms)", Header: []string{"phase", "count", "p50", "p90", "p99", "max"}}
	hist := report.Plot{Title: "Latency distribution of keygens and signings", XLabel: "latency (ms, log buckets)", YLabel: "share"}
	for _, n := range names {
		l := res.Latency[n]
		lt.Rows = append(lt.Rows, []string{n, fmt.Sprint(l.Count), f2(l.P50), f2(l.P90), f2(l.P99), f2(l.Max)})
		if n == PhaseKeygen || n == PhaseSign {
			hist.Histograms = append(hist.Histograms, report.NamedHistogram{Name: n, Histogram: res.latencyHist[n]})
		}
	}
	t := res.Traffic
	p.Tables = append(p.Tables, lt, report.Table{Title: "Relay traffic (counted at the parties)", Rows: [][]string{
		{"frames sent / received", fmt.Sprintf("%d / %d", t.FramesSent, t.FramesReceived)},
		{"bytes sent / received", fmt.Sprintf("%d / %d", t.BytesSent, t.BytesReceived)},
		{"broadcast Session.message (count / body bytes)", fmt.Sprintf("%d / %d", t.BroadcastMessages, t.BroadcastBytes)},
		{"peer-to-peer Session.message (count / body bytes)", fmt.Sprintf("%d / %d", t.P2PMessages, t.P2PBytes)},
	}}, machineTable(res.Machine))
	tput := report.Plot{Title: "Throughput over time", XLabel: "second of the run", YLabel: "operations finished"}
	tput.Lines = append(tput.Lines, line("verified signatures", res.SignaturesPerSecond), line("keygens", res.KeygensPerSecond))
	p.Plots = []report.Plot{hist, tput}
	return p
}

func line(name string, xs []int64) report.Line {
	l := report.Line{Name: name}
	for _, x := range xs {
		l.Values = append(l.Values, float64(x))
	}
	return l
}

func f2(x float64) string { return fmt.Sprintf("%.2f", x) }
