package run

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"mpcrelay/scenarios/report"
)

// Page is the report.html of a capacity search: the knees, every step, and the plots of
// latency and achieved rate against offered rate.
func (res *SweepResults) Page() report.Page {
	p := report.Page{Title: "mpcrelay capacity search", Passed: res.Passed, Verdict: res.Verdict,
		Subtitle: fmt.Sprintf("trace %s against %s, %d groups, time scale %g, steps of %.0f s, SLO p99 ≤ %.0f ms, %s",
			res.Trace, res.Target, res.Groups, res.TimeScale, res.StepSec, res.SLOms, res.Started.Format(time.RFC3339))}
	series := []struct {
		name string
		s    *SweepSeries
	}{{"relay", res.Relay}}
	if res.Baseline != nil {
		series = append(series, struct {
			name string
			s    *SweepSeries
		}{"forwarder", res.Baseline})
	}
	knees := report.Table{Title: "Knee (highest offered rate meeting the SLO)",
		Header: []string{"target", "sessions/s", "messages/s", "p50 / p99 there (ms)", "stopped", "generator-limited"}}
	for _, x := range series {
		knees.Rows = append(knees.Rows, []string{x.name, fmt.Sprintf("%.4g", x.s.Knee), fmt.Sprintf("%.0f", x.s.KneePerSec),
			fmt.Sprintf("%.2f / %.2f", x.s.KneeLatency.P50, x.s.KneeLatency.P99), x.s.StopReason, fmt.Sprint(x.s.GeneratorLimited)})
	}
	if res.KneeRatio > 0 {
		knees.Rows = append(knees.Rows, []string{"relay / forwarder", "", fmt.Sprintf("%.2f", res.KneeRatio), "", "", ""})
	}
	steps := report.Table{Title: "Steps (in the order run)", Header: []string{"target", "offered sessions/s", "offered msgs/s",
		"achieved msgs/s", "p50 / p99 (ms)", "lost / late / wrong", "failed / not started", "generator µs/delivery", "relay µs/delivery",
		"saturated", "result"}}
	lat := report.Plot{Title: "Delivery latency against offered load", XLabel: "offered messages/s", YLabel: "latency (ms)"}
	ach := report.Plot{Title: "Achieved against offered load", XLabel: "offered messages/s", YLabel: "achieved messages/s"}
	top := 0.0
	for _, x := range series {
		sorted := slices.SortedStableFunc(slices.Values(x.s.Steps), func(a, b SweepStep) int {
			return cmp.Compare(a.OfferedPerSec, b.OfferedPerSec)
		})
		p50 := report.Line{Name: x.name + " p50"}
		p99 := report.Line{Name: x.name + " p99", Dashed: true}
		got := report.Line{Name: x.name}
		for _, st := range sorted {
			p50.X, p50.Values = append(p50.X, st.OfferedPerSec), append(p50.Values, st.Latency.P50)
			p99.X, p99.Values = append(p99.X, st.OfferedPerSec), append(p99.Values, st.Latency.P99)
			got.X, got.Values = append(got.X, st.OfferedPerSec), append(got.Values, st.AchievedPerSec)
			top = max(top, st.OfferedPerSec)
		}
		lat.Lines = append(lat.Lines, p50, p99)
		ach.Lines = append(ach.Lines, got)
		for _, st := range x.s.Steps {
			gen, rel, sat := "", "", ""
			if u := st.Usage; u != nil {
				gen, sat = fmt.Sprintf("%.1f", u.GeneratorCPUPerDeliveryUS), u.Saturated
				if u.RelayCPUPerDeliveryUS > 0 {
					rel = fmt.Sprintf("%.1f", u.RelayCPUPerDeliveryUS)
				}
			}
			result := "pass"
			if !st.Pass {
				result = "fail: " + st.Why
			}
			steps.Rows = append(steps.Rows, []string{x.name, fmt.Sprintf("%.4g", st.OfferedSessionsPerSec), fmt.Sprintf("%.0f", st.OfferedPerSec),
				fmt.Sprintf("%.0f", st.AchievedPerSec), fmt.Sprintf("%.2f / %.2f", st.Latency.P50, st.Latency.P99),
				fmt.Sprintf("%d / %d / %d", st.Lost, st.Late, st.Wrong), fmt.Sprintf("%d / %d", st.SessionsFailed, st.SessionsNotStarted),
				gen, rel, sat, result})
		}
	}
	if top > 0 {
		lat.Lines = append(lat.Lines, report.Line{Name: fmt.Sprintf("SLO %.0f ms", res.SLOms), X: []float64{0, top}, Values: []float64{res.SLOms, res.SLOms}, Dashed: true})
		ach.Lines = append(ach.Lines, report.Line{Name: "offered", X: []float64{0, top}, Values: []float64{0, top}, Dashed: true})
	}
	p.Tables = []report.Table{knees, steps, machineTable(res.Machine)}
	p.Plots = []report.Plot{lat, ach}
	return p
}
