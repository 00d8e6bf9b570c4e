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
	"log/slog"
	"time"

	"mpcrelay/scenarios/report"
	"mpcrelay/scenarios/trace"
)

// Targets.
const (
	TargetRelay     = "relay"
	TargetForwarder = "forwarder"
)

// Config is one replay run.
type Config struct {
	URL    string // ws://host:port/path of the relay or forwarder
	Target string // TargetRelay (default) or TargetForwarder
	Trace  *trace.Trace
	// Groups run at once; group i replays trace session i mod len(sessions) with its own
	// connections (one per party of the session's group).
	Groups int
	// Rate caps session starts per second over all groups (0: no cap).
	Rate float64
	// Duration, when set, makes every group repeat its session until it has elapsed; otherwise
	// each group replays its session once.
	Duration time.Duration
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

// Result is what a replay run measured.
type Result struct {
	Target             string        `json:"target"`
	URL                string        `json:"url"`
	Groups             int           `json:"groups"`
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

	MessagesPerSec float64        `json:"messages_per_s"` // delivered / elapsed
	Latency        report.Latency `json:"delivery_latency"`
	// LatencyHistogram and Throughput (deliveries per second of the run) feed the plots.
	LatencyHistogram report.Histogram `json:"latency_histogram"`
	Throughput       []int64          `json:"throughput_per_s"`

	// RelayErrors counts error responses to the replayed requests; ErrorSamples keeps a few texts.
	RelayErrors  int64    `json:"relay_errors"`
	ErrorSamples []string `json:"error_samples,omitempty"`
	// Disconnects counts connections that ended before the run closed them.
	Disconnects int64 `json:"disconnects"`

	PeakMemory uint64 `json:"peak_memory_bytes,omitempty"`
}

// Clean reports whether every frame reached exactly the parties it should, once, intact, and no
// session failed.
func (r *Result) Clean() bool {
	return r.Lost == 0 && r.Duplicated == 0 && r.Misdelivered == 0 && r.Corrupt == 0 &&
		r.SessionsFailed == 0 && r.GroupsNotConnected == 0 && r.SessionsCompleted > 0
}
