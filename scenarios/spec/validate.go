package spec

import (
	"fmt"
	"math"
	"mpcrelay/scenarios/replay"
	"time"
)

// Defaults for the fields a file may leave out.
const (
	DefaultTimeout = Duration(2 * time.Minute) // ECDSA keygen takes 10–30 s on a small machine
	maxParties     = 64                        // far beyond what a bench machine can run; catches typos
	maxGroups      = 10000
)

func (s *Scenario) applyDefaults() {
	if s.Mode == "" {
		s.Mode = ModeBench
	}
	if s.Groups == 0 {
		s.Groups = 1
	}
	if s.Keygens == 0 {
		s.Keygens = 1
	}
	if s.Join == "" {
		s.Join = JoinSignup
	}
	if s.Timeout == 0 {
		s.Timeout = DefaultTimeout
	}
	if s.Expect.Outcome == "" {
		s.Expect.Outcome = OutcomeVerified
	}
	for i := range s.Faults {
		f := &s.Faults[i]
		if f.Direction == "" {
			f.Direction = DirectionBoth
		}
		if f.Probability == 0 && (f.Kind == FaultDuplicate || f.Kind == FaultDelay || f.Kind == FaultReorder) {
			f.Probability = 0.1
		}
		if f.Delay == 0 && f.Kind == FaultDelay {
			f.Delay = Duration(50 * time.Millisecond)
		}
	}
}

// Validate checks a scenario built in Go (Parse already validates files).
func (s *Scenario) Validate() error {
	s.applyDefaults()
	if errs := s.validate(); len(errs) > 0 {
		return errs[0]
	}
	return nil
}

func (s *Scenario) validate() []*FieldError {
	var errs []*FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if s.Name == "" {
		bad("name", "required")
	}
	switch s.Mode {
	case ModeBench:
		if s.Trace != "" {
			bad("trace", "only a replay scenario replays a trace")
		}
		if s.Rate != 0 {
			bad("rate", "only a replay scenario has a rate")
		}
		if s.TimeScale != 0 {
			bad("time_scale", "only a replay scenario has a time scale")
		}
		if s.Baseline {
			bad("baseline", "only a replay scenario has a baseline")
		}
	case ModeReplay:
		s.validateReplay(bad)
		return errs
	default:
		bad("mode", "unknown mode %q: want bench or replay", s.Mode)
		return errs
	}
	switch s.Curve {
	case CurveECDSA, CurveEdDSA:
	case "":
		bad("curve", "required: ecdsa or eddsa")
	default:
		bad("curve", "unknown curve %q: want ecdsa or eddsa", s.Curve)
	}
	// §3.1 and §4.1: parties > 1, threshold > 0, threshold < parties.
	switch {
	case s.Parties < 2:
		bad("parties", "must be at least 2, got %d", s.Parties)
	case s.Parties > maxParties:
		bad("parties", "at most %d, got %d", maxParties, s.Parties)
	}
	switch {
	case s.Threshold < 1:
		bad("threshold", "must be at least 1, got %d", s.Threshold)
	case s.Parties >= 2 && s.Threshold >= s.Parties:
		bad("threshold", "must be less than parties (%d), got %d", s.Parties, s.Threshold)
	}
	if s.Groups < 1 || s.Groups > maxGroups {
		bad("groups", "must be between 1 and %d, got %d", maxGroups, s.Groups)
	}
	if s.Keygens < 1 {
		bad("keygens", "must be at least 1, got %d", s.Keygens)
	}
	if s.Signings < 0 {
		bad("signings", "must not be negative, got %d", s.Signings)
	}
	if s.Duration < 0 {
		bad("duration", "must not be negative")
	}
	if s.Duration > 0 && s.Signings > 0 {
		bad("duration", "give signings or duration, not both")
	}
	switch s.Join {
	case JoinSignup, JoinLoad:
	default:
		bad("join", "unknown join mode %q: want signup or load", s.Join)
	}
	if s.Timeout < 0 {
		bad("timeout", "must be positive")
	}
	disruptive := false
	for i := range s.Faults {
		if s.validateFault(fmt.Sprintf("faults[%d]", i), &s.Faults[i], bad) {
			disruptive = true
		}
	}
	switch s.Expect.Outcome {
	case OutcomeVerified:
		if disruptive {
			bad("expect.outcome", "a scenario with a disconnect or never-signup fault cannot expect every signature verified")
		}
		if len(s.Expect.Missing) > 0 {
			bad("expect.missing", "only a failure names missing parties")
		}
	case OutcomeFailure:
		if len(s.Expect.Missing) == 0 {
			bad("expect.missing", "a failure must name the parties it expects missing")
		}
		for j, p := range s.Expect.Missing {
			if p < 1 || p > s.Parties {
				bad(fmt.Sprintf("expect.missing[%d]", j), "party %d is not between 1 and %d", p, s.Parties)
			}
		}
		if s.Expect.Within <= 0 {
			bad("expect.within", "a failure must be bounded: give the time it may take, e.g. 30s")
		}
		if !disruptive {
			bad("expect.outcome", "nothing in this scenario makes it fail: add a disconnect or never-signup fault")
		}
	default:
		bad("expect.outcome", "unknown outcome %q: want verified or failure", s.Expect.Outcome)
	}
	return errs
}

// validateReplay checks a replay scenario: the trace decides curves, t and n, and only proxy
// faults apply (a replayed party does no cryptography, so it has no rounds to drop out of).
// Duplicated frames are left out: the relay would rightly deliver them twice, which the replay
// check counts as duplicates.
func (s *Scenario) validateReplay(collect func(field, format string, args ...any)) {
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"curve", s.Curve != ""}, {"threshold", s.Threshold != 0}, {"parties", s.Parties != 0},
		{"signings", s.Signings != 0}, {"join", s.Join != JoinSignup},
	} {
		if f.set {
			collect(f.name, "does not apply to a replay scenario: the trace decides it")
		}
	}
	if s.Keygens != 1 {
		collect("keygens", "does not apply to a replay scenario: the trace decides it")
	}
	if s.Groups < 1 || s.Groups > maxGroups {
		collect("groups", "must be between 1 and %d, got %d", maxGroups, s.Groups)
	}
	if s.Rate < 0 || math.IsNaN(s.Rate) || math.IsInf(s.Rate, 0) {
		collect("rate", "must be a finite number ≥ 0")
	} else if err := replay.CheckRate(s.Rate); err != nil {
		collect("rate", "%v", err)
	}
	if s.TimeScale < 0 || math.IsNaN(s.TimeScale) || math.IsInf(s.TimeScale, 0) {
		collect("time_scale", "must be a finite number ≥ 0")
	}
	if s.Duration < 0 {
		collect("duration", "must not be negative")
	}
	for i, f := range s.Faults {
		switch f.Kind {
		case FaultLatency, FaultDelay, FaultReorder:
			s.validateFault(fmt.Sprintf("faults[%d]", i), &s.Faults[i], collect)
		default:
			collect(fmt.Sprintf("faults[%d].kind", i), "a replay scenario takes only latency, delay and reorder faults, got %q", f.Kind)
		}
	}
	if s.Expect.Outcome != OutcomeVerified {
		collect("expect.outcome", "a replay scenario expects verified delivery, got %q", s.Expect.Outcome)
	}
}

// validateFault checks one fault and reports whether it makes sessions fail.
func (s *Scenario) validateFault(p string, f *Fault, bad func(field, format string, args ...any)) bool {
	partyFault := func() {
		if f.Party < 1 || f.Party > s.Parties {
			bad(p+".party", "party must be between 1 and %d, got %d", s.Parties, f.Party)
		}
		switch f.Phase {
		case PhaseKeygen, PhaseSign:
		case "":
			bad(p+".phase", "required: keygen or sign")
		default:
			bad(p+".phase", "unknown phase %q: want keygen or sign", f.Phase)
		}
		if f.Phase == PhaseSign && s.Signings == 0 && s.Duration == 0 {
			bad(p+".phase", "the scenario runs no signings")
		}
	}
	proxyFault := func() {
		switch f.Direction {
		case DirectionUp, DirectionDown, DirectionBoth:
		default:
			bad(p+".direction", "unknown direction %q: want up, down or both", f.Direction)
		}
	}
	probability := func() {
		if f.Probability <= 0 || f.Probability > 1 {
			bad(p+".probability", "must be in (0, 1], got %g", f.Probability)
		}
	}
	switch f.Kind {
	case FaultDisconnect:
		partyFault()
		if f.Round < 1 {
			bad(p+".round", "must be at least 1, got %d", f.Round)
		}
		return true
	case FaultNeverSignup:
		partyFault()
		// Session.signup issues numbers in arrival order (§4.5): the number never issued is the
		// last one. Only Session.load (§4.6) lets a given number stay away.
		switch {
		case f.Phase == PhaseKeygen && f.Party != s.Parties:
			bad(p+".party", "keygen numbers are issued in signup order, so the party that never signs up is the last one: want %d, got %d", s.Parties, f.Party)
		case f.Phase == PhaseSign && s.Join == JoinSignup && f.Party != s.SignParties():
			bad(p+".party", "with join: signup the party that never signs up is the last number, %d (use join: load to pick a keygen party), got %d", s.SignParties(), f.Party)
		}
		return true
	case FaultLatency:
		proxyFault()
		if f.Latency <= 0 && f.Jitter <= 0 {
			bad(p+".latency", "give latency, jitter or both")
		}
		if f.Latency < 0 || f.Jitter < 0 {
			bad(p+".jitter", "must not be negative")
		}
	case FaultDuplicate, FaultReorder:
		proxyFault()
		probability()
	case FaultDelay:
		proxyFault()
		probability()
		if f.Delay <= 0 {
			bad(p+".delay", "must be positive")
		}
	case FaultRelayRestart:
		if f.After <= 0 {
			bad(p+".after", "must be positive: when into the run the relay restarts")
		}
	case "":
		bad(p+".kind", "required")
	default:
		bad(p+".kind", "unknown fault %q: want disconnect, never-signup, latency, duplicate, delay, reorder or relay-restart", f.Kind)
	}
	return false
}
