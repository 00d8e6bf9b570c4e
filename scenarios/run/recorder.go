package run

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"mpcrelay/faultproxy"
	"mpcrelay/relay/protocol"
	"mpcrelay/scenarios/spec"
	"mpcrelay/scenarios/trace"
	"mpcrelay/simparty"
)

// recorder follows one keygen or signing through simparty's Progress calls: when each party
// got its number, started (sessionSignup/sessionLoad), finished tss-lib and saw sessionClosed,
// and every Session.message it sent.
type recorder struct {
	b    *bench
	kind protocol.SessionKind
	id   string // the session's name in a trace
	// expected are the party numbers the session should have: 1..n for a keygen, the signers'
	// keygen numbers (load) or 1..t+1 (signup) for a signing.
	expected []uint16

	mu       sync.Mutex
	session  uuid.UUID
	signedUp map[uint16]bool
	started  map[uint16]time.Time
	done     map[uint16]time.Time
	closed   map[uint16]time.Time
	messages []sent
}

type sent struct {
	at       time.Time
	round    int
	sender   uint16
	receiver *uint16
	size     int
	body     json.RawMessage
}

func (b *bench) newRecorder(kind protocol.SessionKind, g, i int) *recorder {
	n := b.sessionN.Add(1)
	return &recorder{b: b, kind: kind, id: fmt.Sprintf("%s-%s-%d", b.s.Curve, kind, n),
		signedUp: map[uint16]bool{}, started: map[uint16]time.Time{}, done: map[uint16]time.Time{}, closed: map[uint16]time.Time{}}
}

func (r *recorder) progress(p simparty.Progress) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p.Session != uuid.Nil {
		r.session = p.Session
	}
	switch p.Phase {
	case simparty.PhaseSignup:
		r.signedUp[p.Party] = true
	case simparty.PhaseStart:
		r.started[p.Party] = p.At
	case simparty.PhaseDone:
		r.done[p.Party] = p.At
	case simparty.PhaseClosed:
		r.closed[p.Party] = p.At
	case simparty.PhaseMessage:
		m := sent{at: p.At, round: p.Round, sender: p.Party, receiver: p.Receiver, size: p.Size}
		if r.b.o.RecordBodies {
			m.body = p.Body
		}
		r.messages = append(r.messages, m)
	}
}

// close returns the per-party phase latencies and the messages sent.
func (r *recorder) close(opStart time.Time) (map[string][]time.Duration, []sent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string][]time.Duration{}
	for p, st := range r.started {
		out[PhaseJoin] = append(out[PhaseJoin], st.Sub(opStart))
		if d, ok := r.done[p]; ok {
			out[PhaseRounds] = append(out[PhaseRounds], d.Sub(st))
			if c, ok := r.closed[p]; ok {
				out[PhaseFinish] = append(out[PhaseFinish], c.Sub(d))
			}
		}
	}
	return out, slices.Clone(r.messages)
}

// neverSignedUp lists the expected parties that never got a party number.
func (r *recorder) neverSignedUp(expected []uint16) []uint16 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []uint16
	for _, p := range expected {
		if !r.signedUp[p] {
			out = append(out, p)
		}
	}
	return out
}

// write appends the session to the trace: a header, then its messages with offsets from the
// first party's start.
func (r *recorder) write(w *trace.Writer) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.started) < 2 || len(r.messages) == 0 {
		return nil
	}
	var first time.Time
	var members []uint16
	for p, st := range r.started {
		members = append(members, p)
		if first.IsZero() || st.Before(first) {
			first = st
		}
	}
	slices.Sort(members)
	s := trace.Session{ID: r.id, Curve: r.b.s.Curve, Kind: string(r.kind), Parties: r.b.s.Parties,
		Threshold: r.b.s.Threshold, Members: members}
	if err := w.Session(s); err != nil {
		return err
	}
	for _, m := range r.messages {
		err := w.Message(trace.Message{Session: r.id, OffsetUS: max(0, m.at.Sub(first).Microseconds()),
			Round: uint16(m.round), Sender: m.sender, Receiver: m.receiver, Size: m.size, Body: m.body})
		if err != nil {
			return err
		}
	}
	return nil
}

// neverSignupRules make the never-signup faults: the proxy drops the party's Session.load (by
// its number) or, with Session.signup, the signup that would be issued that number (numbers are
// issued in arrival order, so the validator only lets that be the last one, §4.5).
func (b *bench) neverSignupRules() []faultproxy.Rule {
	var rules []faultproxy.Rule
	for _, f := range b.s.FaultsOf(spec.FaultNeverSignup) {
		kind := protocol.KindKeygen
		if f.Phase == spec.PhaseSign {
			kind = protocol.KindSign
		}
		party := uint16(f.Party)
		if kind == protocol.KindSign && b.s.Join == spec.JoinLoad {
			rules = append(rules, faultproxy.Rule{Name: "never-signup load", Dir: faultproxy.ToRelay,
				Match: faultproxy.Request(protocol.MethodSessionLoad),
				Apply: func(fr *faultproxy.Frame) {
					var p protocol.SessionLoadParams
					if json.Unmarshal(fr.RPC.Params, &p) == nil && p.Kind == kind && p.Number == party {
						fr.Drop()
					}
				}})
			continue
		}
		signups := map[uuid.UUID]int{} // rules run one at a time: no lock needed
		rules = append(rules, faultproxy.Rule{Name: "never-signup signup", Dir: faultproxy.ToRelay,
			Match: faultproxy.Request(protocol.MethodSessionSignup),
			Apply: func(fr *faultproxy.Frame) {
				var p protocol.SessionParams
				if json.Unmarshal(fr.RPC.Params, &p) != nil || p.Kind != kind {
					return
				}
				signups[p.SessionID]++
				if signups[p.SessionID] == int(party) {
					fr.Drop()
				}
			}})
	}
	return rules
}

func startProxy(target string, log *slog.Logger, rules []faultproxy.Rule) (*faultproxy.Proxy, error) {
	p, err := faultproxy.Start(target, faultproxy.Options{Logger: log}, rules...)
	if err != nil {
		return nil, fmt.Errorf("fault proxy: %w", err)
	}
	return p, nil
}
