// Package spec is the scenario file format: a small declarative YAML or JSON file naming the
// curve, t and n, the load (groups at once, keygens and signings per group or a duration), the
// join mode, the faults to inject and the expected outcome. Parse decodes strictly and names the
// field and line of every mistake.
package spec

import (
	"encoding/json"
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"
)

// Curves and join modes.
const (
	CurveECDSA = "ecdsa" // GG18 over secp256k1
	CurveEdDSA = "eddsa" // EdDSA over ed25519

	JoinSignup = "signup" // signers take fresh numbers with Session.signup (§4.5)
	JoinLoad   = "load"   // signers claim their keygen numbers with Session.load (§4.6)
)

// Modes.
const (
	ModeBench  = "bench"
	ModeReplay = "replay"
)

// Outcomes a scenario may expect.
const (
	// OutcomeVerified: every keygen and signing succeeds and every signature verifies; for a
	// replay, every frame reaches exactly the parties it should, once, intact.
	OutcomeVerified = "verified"
	OutcomeFailure  = "failure" // the run fails cleanly, within a bound, naming the missing parties
)

// Scenario is one scenario file.
type Scenario struct {
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description" json:"description,omitempty"`
	// Mode is bench (default: real tss-lib parties) or replay (a recorded trace, no crypto).
	Mode string `yaml:"mode" json:"mode"`
	// Trace is the trace a replay scenario replays, relative to the scenario file; empty means
	// the checked-in trace.
	Trace string `yaml:"trace" json:"trace,omitempty"`
	// Rate makes a replay open-loop: session starts per second across all groups, due on
	// schedule whether or not earlier frames were answered (0: closed loop, groups back to back).
	Rate float64 `yaml:"rate" json:"rate,omitempty"`
	// TimeScale multiplies the recorded message offsets of an open-loop replay (0: 1).
	TimeScale float64 `yaml:"time_scale" json:"time_scale,omitempty"`
	// Baseline also replays the same load through the minimal forwarder (replay only).
	Baseline  bool   `yaml:"baseline" json:"baseline,omitempty"`
	Curve     string `yaml:"curve" json:"curve"`
	Threshold int    `yaml:"threshold" json:"threshold"` // t: signing needs t+1 parties
	Parties   int    `yaml:"parties" json:"parties"`     // n
	Groups    int    `yaml:"groups" json:"groups"`       // groups running at once
	Keygens   int    `yaml:"keygens" json:"keygens"`     // keygens per group
	Signings  int    `yaml:"signings" json:"signings"`   // signings per group (after its first keygen)
	// Duration, when set, makes each group sign for this long after its keygens instead of
	// counting signings.
	Duration Duration `yaml:"duration" json:"duration,omitempty"`
	Join     string   `yaml:"join" json:"join"`
	// Timeout is how long a keygen or signing may go without progress (a round, a signup, any
	// call to the relay) before it fails.
	Timeout Duration `yaml:"timeout" json:"timeout,omitempty"`
	Faults  []Fault  `yaml:"faults" json:"faults,omitempty"`
	Expect  Expect   `yaml:"expect" json:"expect"`
}

// Fault kinds.
const (
	FaultDisconnect   = "disconnect"    // party-side: a party closes its connection at a round
	FaultNeverSignup  = "never-signup"  // party-side: a party never signs up
	FaultLatency      = "latency"       // proxy: added latency and jitter per connection
	FaultDuplicate    = "duplicate"     // proxy: frames sent twice
	FaultDelay        = "delay"         // proxy: some frames held back
	FaultReorder      = "reorder"       // proxy: frames swapped with the next one
	FaultRelayRestart = "relay-restart" // the embedded relay is shut down and started again
)

// Phases a party-side fault applies to.
const (
	PhaseKeygen = "keygen"
	PhaseSign   = "sign"
)

// Directions a proxy fault applies to.
const (
	DirectionUp   = "up"   // client → relay
	DirectionDown = "down" // relay → client
	DirectionBoth = "both"
)

// Fault is one fault to inject. Which fields apply depends on Kind (see Validate).
type Fault struct {
	Kind string `yaml:"kind" json:"kind"`
	// Party is the party number a party-side fault hits (1..n).
	Party int `yaml:"party" json:"party,omitempty"`
	// Phase is the session kind a party-side fault hits: keygen or sign.
	Phase string `yaml:"phase" json:"phase,omitempty"`
	// Round is the round at which a disconnecting party closes its connection (1-based:
	// before it sends its first message of that round).
	Round int `yaml:"round" json:"round,omitempty"`
	// Latency and Jitter are added to every frame (latency ± jitter, uniformly).
	Latency Duration `yaml:"latency" json:"latency,omitempty"`
	Jitter  Duration `yaml:"jitter" json:"jitter,omitempty"`
	// Delay is how long a delayed frame is held back.
	Delay Duration `yaml:"delay" json:"delay,omitempty"`
	// Probability is the share of frames a duplicate/delay/reorder fault hits (0 < p <= 1).
	Probability float64 `yaml:"probability" json:"probability,omitempty"`
	// Direction is the direction a proxy fault applies to: up, down or both (default both).
	Direction string `yaml:"direction" json:"direction,omitempty"`
	// After is how long into the run a relay restart happens.
	After Duration `yaml:"after" json:"after,omitempty"`
}

// Expect is the outcome the run checks.
type Expect struct {
	Outcome string `yaml:"outcome" json:"outcome"`
	// Missing are the party numbers a failure must name.
	Missing []int `yaml:"missing" json:"missing,omitempty"`
	// Within bounds how long a failing run may take to fail.
	Within Duration `yaml:"within" json:"within,omitempty"`
}

// Duration is a time.Duration written as "1.5s" in files and in results.json.
type Duration time.Duration

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML reads a Go duration string ("250ms", "1m30s").
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a duration such as \"5s\"")
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("want a duration such as \"5s\", got %q", n.Value)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"5s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// SignParties is the number of parties a signing needs (§3.1).
func (s *Scenario) SignParties() int { return s.Threshold + 1 }

// FaultsOf returns the faults of the given kinds.
func (s *Scenario) FaultsOf(kinds ...string) []Fault {
	var out []Fault
	for _, f := range s.Faults {
		for _, k := range kinds {
			if f.Kind == k {
				out = append(out, f)
			}
		}
	}
	return out
}

// ProxyFaults are the faults a fault-injecting proxy applies.
func (s *Scenario) ProxyFaults() []Fault {
	return s.FaultsOf(FaultLatency, FaultDuplicate, FaultDelay, FaultReorder)
}
