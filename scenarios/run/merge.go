package run

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"mpcrelay/scenarios/replay"
	"mpcrelay/scenarios/report"
	"mpcrelay/scenarios/usage"
)

// ReadReplayResults reads DIR/results.json (or the file itself) of a replay.
func ReadReplayResults(path string) (*ReplayResults, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, "results.json")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var res ReplayResults
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if res.Kind != "replay" || res.Relay == nil {
		return nil, fmt.Errorf("%s: not the results of a replay (kind %q)", path, res.Kind)
	}
	return &res, nil
}

// MergeReplays merges the results of the n segments of one load (replay --segment i/n) into
// the results of the whole run: counts add up, histograms merge exactly (HDR), rates are
// recomputed over the longest segment. The parts must be segments 1/n … n/n of the same trace
// and groups, rate and time scale, each once.
func MergeReplays(names []string, parts []*ReplayResults) (*ReplayResults, error) {
	if len(parts) == 0 {
		return nil, errors.New("merge: no results")
	}
	n := 0
	seen := map[int]string{}
	for k, p := range parts {
		seg, err := replay.ParseSegment(p.Relay.Segment)
		if p.Relay.Segment == "" || err != nil {
			return nil, fmt.Errorf("merge: %s is not a segment (run it with --segment i/n)", names[k])
		}
		if n == 0 {
			n = seg.N
		}
		switch {
		case seg.N != n:
			return nil, fmt.Errorf("merge: %s is segment %s, the others are of %d", names[k], p.Relay.Segment, n)
		case seen[seg.I] != "":
			return nil, fmt.Errorf("merge: %s and %s are both segment %s", seen[seg.I], names[k], p.Relay.Segment)
		case p.Trace != parts[0].Trace || p.Relay.GroupsTotal != parts[0].Relay.GroupsTotal || p.Relay.OpenLoop != parts[0].Relay.OpenLoop:
			return nil, fmt.Errorf("merge: %s is not from the same load as %s (trace, groups or loop differ)", names[k], names[0])
		case !sameFloat(loadRate(p.Relay), loadRate(parts[0].Relay)) || !sameFloat(p.Relay.TimeScale, parts[0].Relay.TimeScale):
			return nil, fmt.Errorf("merge: %s is not from the same load as %s (--rate %.4g and --time-scale %g, there %.4g and %g)",
				names[k], names[0], loadRate(p.Relay), p.Relay.TimeScale, loadRate(parts[0].Relay), parts[0].Relay.TimeScale)
		case (p.Baseline == nil) != (parts[0].Baseline == nil):
			return nil, fmt.Errorf("merge: %s and %s differ in --baseline", names[k], names[0])
		}
		seen[seg.I] = names[k]
	}
	var missing []string
	for i := 1; i <= n; i++ {
		if seen[i] == "" {
			missing = append(missing, fmt.Sprintf("%d/%d", i, n))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("merge: segments %s are missing: the whole load needs all %d", strings.Join(missing, ", "), n)
	}

	first := parts[0]
	out := &ReplayResults{Kind: "replay", Scenario: first.Scenario, Trace: first.Trace, Target: first.Target,
		Started: first.Started, Machine: first.Machine, MemoryScope: first.MemoryScope, MergedFrom: names}
	relays := make([]*replay.Result, len(parts))
	var bases []*replay.Result
	for k, p := range parts {
		relays[k] = p.Relay
		if p.Baseline != nil {
			bases = append(bases, p.Baseline)
		}
		if p.Started.Before(out.Started) {
			out.Started = p.Started
		}
		out.DurationSec = max(out.DurationSec, p.DurationSec)
	}
	var err error
	if out.Relay, err = mergeResults(relays); err != nil {
		return nil, err
	}
	if len(bases) > 0 {
		if out.Baseline, err = mergeResults(bases); err != nil {
			return nil, err
		}
		r, b := out.Relay, out.Baseline
		out.Ratios = &BaselineRatios{MessagesPerSec: ratio(r.MessagesPerSec, b.MessagesPerSec),
			LatencyP50: ratio(r.Latency.P50, b.Latency.P50), LatencyP99: ratio(r.Latency.P99, b.Latency.P99)}
	}
	out.Passed, out.Verdict = replayVerdict(out)
	out.Verdict = fmt.Sprintf("%d segments merged: %s", n, out.Verdict)
	return out, nil
}

// loadRate is the --rate of the whole load a segment belongs to (it offered its share of it).
func loadRate(r *replay.Result) float64 {
	if r.Groups == 0 {
		return 0
	}
	return r.OfferedSessionsPerSec * float64(r.GroupsTotal) / float64(r.Groups)
}

// sameFloat: equal but for rounding (a rate recomputed from a segment's share).
func sameFloat(a, b float64) bool { return math.Abs(a-b) <= 1e-9*max(math.Abs(a), math.Abs(b)) }

func mergeResults(rs []*replay.Result) (*replay.Result, error) {
	m := &replay.Result{Target: rs[0].Target, URL: rs[0].URL, URLs: rs[0].URLs, GroupsTotal: rs[0].GroupsTotal,
		Rule: rs[0].Rule, OpenLoop: rs[0].OpenLoop, TimeScale: rs[0].TimeScale}
	hists := map[string]*hdrhistogram.Histogram{}
	add := func(key, enc string) error {
		h, err := report.DecodeHDR(enc)
		if err != nil {
			return err
		}
		if hists[key] == nil {
			hists[key] = report.NewHDR()
		}
		hists[key].Merge(h)
		return nil
	}
	var sched []*replay.Schedule
	var uses []usage.Report
	for _, r := range rs {
		if r.LatencyHDR == "" && r.Delivered > 0 {
			return nil, errors.New("merge: a result has no encoded latency histogram (written before histograms were kept)")
		}
		m.Groups += r.Groups
		m.Connections += r.Connections
		m.GroupsNotConnected += r.GroupsNotConnected
		m.ElapsedSec = max(m.ElapsedSec, r.ElapsedSec)
		m.SessionsStarted += r.SessionsStarted
		m.SessionsCompleted += r.SessionsCompleted
		m.SessionsFailed += r.SessionsFailed
		m.FramesSent += r.FramesSent
		m.BytesSent += r.BytesSent
		m.Broadcasts += r.Broadcasts
		m.PeerToPeer += r.PeerToPeer
		m.Expected += r.Expected
		m.Delivered += r.Delivered
		m.Lost += r.Lost
		m.Duplicated += r.Duplicated
		m.Misdelivered += r.Misdelivered
		m.Corrupt += r.Corrupt
		m.Filtered += r.Filtered
		m.Late += r.Late
		m.RelayErrors += r.RelayErrors
		m.Disconnects += r.Disconnects
		m.PeakMemory = max(m.PeakMemory, r.PeakMemory)
		m.OfferedSessionsPerSec += r.OfferedSessionsPerSec
		m.OfferedPerSec += r.OfferedPerSec
		m.AchievedPerSec += r.AchievedPerSec
		for i, v := range r.Throughput {
			for len(m.Throughput) <= i {
				m.Throughput = append(m.Throughput, 0)
			}
			m.Throughput[i] += v
		}
		for k, v := range r.FailureReasons {
			if m.FailureReasons == nil {
				m.FailureReasons = map[string]int64{}
			}
			m.FailureReasons[k] += v
		}
		m.ErrorSamples = append(m.ErrorSamples, r.ErrorSamples...)
		if err := add("lat", r.LatencyHDR); err != nil {
			return nil, err
		}
		if err := add("raw", r.LatencyUncorrectedHDR); err != nil {
			return nil, err
		}
		if r.Schedule != nil {
			sched = append(sched, r.Schedule)
			if err := add("start", r.Schedule.StartLagHDR); err != nil {
				return nil, err
			}
			if err := add("send", r.Schedule.SendLagHDR); err != nil {
				return nil, err
			}
		}
		if r.Usage != nil {
			uses = append(uses, *r.Usage)
		}
	}
	if len(m.ErrorSamples) > 10 {
		m.ErrorSamples = m.ErrorSamples[:10]
	}
	m.Elapsed = time.Duration(m.ElapsedSec * float64(time.Second))
	if m.ElapsedSec > 0 {
		m.MessagesPerSec = float64(m.Delivered) / m.ElapsedSec
	}
	m.Latency, m.LatencyHDR = report.LatencyOf(hists["lat"]), report.EncodeHDR(hists["lat"])
	m.LatencyUncorrected, m.LatencyUncorrectedHDR = report.LatencyOf(hists["raw"]), report.EncodeHDR(hists["raw"])
	m.LatencyHistogram = report.HistogramOf(hists["lat"])
	if len(sched) > 0 {
		s := &replay.Schedule{LateAfterMS: sched[0].LateAfterMS}
		for _, x := range sched {
			s.SessionsDue += x.SessionsDue
			s.DeliveriesDue += x.DeliveriesDue
			s.StartedLate += x.StartedLate
			s.NotStarted += x.NotStarted
		}
		s.StartLag, s.StartLagHDR = report.LatencyOf(hists["start"]), report.EncodeHDR(hists["start"])
		s.SendLag, s.SendLagHDR = report.LatencyOf(hists["send"]), report.EncodeHDR(hists["send"])
		s.Kept, s.Verdict = replay.ScheduleVerdict(s)
		m.Schedule = s
	}
	if len(uses) == len(rs) {
		u := usage.Merge(uses)
		m.Usage = &u
	}
	return m, nil
}
