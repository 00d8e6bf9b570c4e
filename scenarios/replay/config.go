// Package replay replays recorded sessions (package trace) as many concurrent groups without
// doing the cryptography, so that the relay, not the CPU-bound crypto, is the bottleneck. Each
// replayed party sends what the trace says once its inputs have arrived (see RuleRound), and
// every delivery is checked: it reached exactly the parties it should, once, intact.
//
// Two targets: a relay (the full protocol: Group.create/join, Session.create, Session.signup,
// Session.message, Session.finish, §4) and the minimal forwarder (one room per group, every
// frame copied to every other connection of the room). Against the forwarder the replayed
// parties send the very same Session.message frames and keep only those addressed to them, so
// both targets carry the same messages; the forwarder simply skips routing, responses and the
// session set-up. The comparison counts, for both, the deliveries a party was meant to get.
package replay

import (
	"fmt"
	"log/slog"
	"math"
	"time"

	"mpcrelay/scenarios/report"
	"mpcrelay/scenarios/trace"
	"mpcrelay/scenarios/usage"
)

// Targets.
const (
	TargetRelay     = "relay"
	TargetForwarder = "forwarder"
)

// Config is one replay run.
type Config struct {
	URL string // ws://host:port/path of the relay or forwarder
	// URLs, when set, replaces URL: party i of every group connects to URLs[i mod len(URLs)]
	// (the nodes of a clustered relay); the group is created through its party 0.
	URLs   []string
	Target string // TargetRelay (default) or TargetForwarder
	Trace  *trace.Trace
	// Groups run at once; group i replays trace session i mod len(sessions) with its own
	// connections (one per party of the session's group).
	Groups int
	// Rate, when set, makes the run open-loop: session k is due at k/Rate seconds after the
	// start, on group k mod Groups, whether or not earlier sessions were answered; its messages
	// are due at that time plus their recorded offsets times TimeScale, and every delivery's
	// latency counts from its due time (coordinated omission corrected, as wrk2). A group runs
	// one session at a time, so a session whose group is still busy starts late — and its
	// lateness is in its latencies. Without Rate each group replays its sessions back to back,
	// a party sending once its inputs have arrived (closed loop).
	Rate float64 // 0, or at least MinRate
	// TimeScale multiplies the recorded offsets in the open loop (0: 1, as recorded; 0.1: ten
	// times faster than the crypto ran).
	TimeScale float64
	// Duration, when set, makes every group repeat its session until it has elapsed (open
	// loop: sessions are due until then); otherwise each group replays its session once.
	Duration time.Duration
	// Segment runs one slice of the load (k6's execution segments): the groups
	// [Groups·(i-1)/n, Groups·i/n) with their sessions, so that n processes given 1/n … n/n
	// produce exactly the load of one run. Zero: the whole load.
	Segment Segment
	// StartAt, when set, is when the schedule starts (segments started apart share it).
	StartAt time.Time
	// Relay says where the relay's CPU and memory are read (usage report).
	Relay usage.Source
	// SessionTimeout bounds each phase of one replayed session: set-up and messages, then
	// finish (default 30 s).
	SessionTimeout time.Duration
	// Bodies sends the recorded bodies when the trace has them (padding of the recorded size
	// otherwise).
	Bodies bool
	// DialParallel bounds concurrent dials (default 64).
	DialParallel int
	// Progress, when set, is called after every replayed session.
	Progress func(sessionsDone int)
	// Memory, when set, is sampled every 250 ms during the run; the peak is reported.
	Memory func() uint64
	Logger *slog.Logger
}

// MinRate is the lowest open-loop rate, sessions/s. The schedule keeps due times in int64
// nanoseconds (time.Duration); below MinRate even the gap between two sessions, 1/Rate s, is
// beyond 2^63 ns (292 years), and session 1's due time would wrap to the past: the sessions
// would run back to back instead of never.
const MinRate = 1e9 / (1 << 63)

// CheckRate says what is wrong with rate as an open-loop rate: nil for 0 (the closed loop) or
// MinRate and above. The flags, scenario files and Config all check with it.
func CheckRate(rate float64) error {
	if rate > 0 && rate < MinRate {
		return fmt.Errorf("must be 0 or at least %.4g sessions/s (a session every 292 years, the longest gap the schedule holds), got %v", MinRate, rate)
	}
	return nil
}

// Bound is the longest a run of c can take: the dialling and set-up of the groups, the wait
// for StartAt, the duration, then the sessions in flight (messages and finish, each within
// the session bound; in the open loop plus the scaled span of the longest session). Nothing
// starts after the duration, so this holds however slow the relay is.
func (c *Config) Bound() time.Duration {
	st := c.SessionTimeout
	if st <= 0 {
		st = defaultSessionTimeout
	}
	var span time.Duration
	if c.Rate > 0 && c.Trace != nil {
		scale := c.TimeScale
		if scale == 0 {
			scale = 1
		}
		for _, s := range c.Trace.Sessions {
			for _, m := range s.Messages {
				span = max(span, time.Duration(float64(m.Offset())*scale))
			}
		}
	}
	var wait time.Duration
	if !c.StartAt.IsZero() {
		wait = max(0, time.Until(c.StartAt))
	}
	// Without a duration the open loop gives every group one session, the last due at
	// (Groups-1)/Rate: a slow schedule of many groups is longer than anything else here.
	var schedule time.Duration
	if c.Rate > 0 && c.Duration == 0 && c.Groups > 1 {
		schedule = time.Duration(dueAt(c.Groups-1, c.Rate))
	}
	b := time.Duration(0)
	for _, d := range []time.Duration{st, wait, c.Duration, 2 * st, span, schedule, 10 * time.Second} {
		if b > maxBound-d {
			return maxBound
		}
		b += d
	}
	return b
}

// maxBound caps Bound, so that callers may multiply it by a few (a sweep's steps, a margin)
// without overflowing: about 104 days, beyond any run anyone waits for.
const maxBound = time.Duration(math.MaxInt64 / 1024)

func (c *Config) urls() []string {
	if len(c.URLs) > 0 {
		return c.URLs
	}
	return []string{c.URL}
}

// Result is what a replay run measured.
type Result struct {
	Target string   `json:"target"`
	URL    string   `json:"url"`
	URLs   []string `json:"urls,omitempty"` // several relay nodes (party i on URL i mod k)
	Groups int      `json:"groups"`
	// Segment "i/n" and the groups it ran, [GroupFirst, GroupFirst+Groups) of GroupsTotal.
	Segment            string        `json:"segment,omitempty"`
	GroupFirst         int           `json:"group_first,omitempty"`
	GroupsTotal        int           `json:"groups_total,omitempty"`
	Connections        int           `json:"connections"`
	GroupsNotConnected int           `json:"groups_not_connected"` // groups whose connections or Group.create/join failed
	Elapsed            time.Duration `json:"-"`
	ElapsedSec         float64       `json:"elapsed_s"`
	Rule               []string      `json:"dependency_rules"`

	SessionsStarted   int64            `json:"sessions_started"`
	SessionsCompleted int64            `json:"sessions_completed"`
	SessionsFailed    int64            `json:"sessions_failed"`
	FailureReasons    map[string]int64 `json:"failure_reasons,omitempty"`

	FramesSent int64 `json:"frames_sent"` // Session.message frames the parties sent
	BytesSent  int64 `json:"bytes_sent"`
	Broadcasts int64 `json:"broadcast_frames"`
	PeerToPeer int64 `json:"p2p_frames"`

	Expected     int64 `json:"deliveries_expected"`
	Delivered    int64 `json:"delivered"`
	Lost         int64 `json:"lost"`
	Duplicated   int64 `json:"duplicated"`
	Misdelivered int64 `json:"misdelivered"`
	Corrupt      int64 `json:"corrupt"`
	// Filtered counts frames a party received but was not meant to get, and dropped: the
	// forwarder's copies of other parties' peer-to-peer messages (not an error for it).
	Filtered int64 `json:"filtered"`
	// Late counts deliveries that arrived after their session's bound (SessionTimeout) had
	// failed it; they are not counted as lost.
	Late int64 `json:"late"`

	MessagesPerSec float64 `json:"messages_per_s"` // delivered / elapsed
	// Latency is from each message's due time: its send time in the closed loop, its
	// scheduled time in the open loop (then LatencyUncorrected, from the actual send, shows
	// what coordinated omission would have hidden).
	Latency            report.Latency `json:"delivery_latency"`
	LatencyUncorrected report.Latency `json:"delivery_latency_uncorrected"`
	// LatencyHDR and LatencyUncorrectedHDR are the histograms (µs), encoded (report.EncodeHDR).
	LatencyHDR            string `json:"delivery_latency_hdr"`
	LatencyUncorrectedHDR string `json:"delivery_latency_uncorrected_hdr"`
	// LatencyHistogram and Throughput (deliveries per second of the run) feed the plots.
	LatencyHistogram report.Histogram `json:"latency_histogram"`
	Throughput       []int64          `json:"throughput_per_s"`

	// RelayErrors counts error responses to the replayed requests; ErrorSamples keeps a few texts.
	RelayErrors  int64    `json:"relay_errors"`
	ErrorSamples []string `json:"error_samples,omitempty"`
	// Disconnects counts connections that ended before the run closed them.
	Disconnects int64 `json:"disconnects"`

	PeakMemory uint64 `json:"peak_memory_bytes,omitempty"`

	// Open loop only.
	OpenLoop bool `json:"open_loop"`
	// OfferedSessionsPerSec is Rate; OfferedPerSec the deliveries per second it schedules.
	OfferedSessionsPerSec float64 `json:"offered_sessions_per_s,omitempty"`
	OfferedPerSec         float64 `json:"offered_messages_per_s,omitempty"`
	// AchievedPerSec is the deliveries made over the same duration the offered ones were due in
	// (the drain after it is left out of both, so a relay that keeps up achieves the offered rate).
	AchievedPerSec float64   `json:"achieved_messages_per_s,omitempty"`
	TimeScale      float64   `json:"time_scale,omitempty"`
	Schedule       *Schedule `json:"schedule,omitempty"`

	// Usage is the CPU the generator and the relay spent on the traffic, and which saturated.
	Usage *usage.Report `json:"usage,omitempty"`
}

// Schedule says whether the generator kept its open-loop schedule.
type Schedule struct {
	SessionsDue int64 `json:"sessions_due"`
	// DeliveriesDue is what the due sessions would deliver: the offered load.
	DeliveriesDue int64 `json:"deliveries_due"`
	// StartedLate counts sessions that started more than LateAfter after their due time
	// because their group was still busy with its previous session (or the generator lagged).
	StartedLate int64 `json:"sessions_started_late"`
	// NotStarted counts sessions due that had not started when the run ended.
	NotStarted  int64          `json:"sessions_not_started"`
	StartLag    report.Latency `json:"start_lag"`
	StartLagHDR string         `json:"start_lag_hdr"`
	// SendLag is how late the generator began writing messages whose session was ready:
	// its own timer and CPU lag, nothing the relay caused.
	SendLag     report.Latency `json:"send_lag"`
	SendLagHDR  string         `json:"send_lag_hdr"`
	LateAfterMS float64        `json:"late_after_ms"`
	// Kept is false when the generator itself fell behind (SendLag p99 above LateAfter).
	Kept    bool   `json:"kept"`
	Verdict string `json:"verdict"`
}

// Clean reports whether every frame reached exactly the parties it should, once, intact, and no
// session failed.
func (r *Result) Clean() bool {
	return r.Lost == 0 && r.Duplicated == 0 && r.Misdelivered == 0 && r.Corrupt == 0 &&
		r.SessionsFailed == 0 && r.GroupsNotConnected == 0 && r.SessionsCompleted > 0
}
