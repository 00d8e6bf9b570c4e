package simparty

import (
	"errors"
	"fmt"
	"strings"

	"mpcrelay/relay/protocol"
)

// ErrNoProgress is wrapped by the error of a party whose round made no progress within the timeout.
var ErrNoProgress = errors.New("no progress")

// PartyError is why one simulated party failed.
type PartyError struct {
	Party   uint16               // the party's number in its session; 0 if it never got one
	Kind    protocol.SessionKind // keygen or sign
	Stage   string               // where it failed: a Phase name ("connect", "signup", "round", ...)
	Round   int                  // Stage "round": the round it was in
	Waiting []uint16             // on ErrNoProgress: the parties tss-lib was still waiting for (WaitingFor)
	Err     error
}

func (e *PartyError) Error() string {
	var b strings.Builder
	if e.Party != 0 {
		fmt.Fprintf(&b, "party %d: ", e.Party)
	}
	b.WriteString(string(e.Kind))
	if e.Stage == PhaseRound {
		fmt.Fprintf(&b, " round %d", e.Round)
	} else if e.Stage != "" {
		fmt.Fprintf(&b, " %s", e.Stage)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	if len(e.Waiting) > 0 {
		if len(e.Waiting) == 1 {
			fmt.Fprintf(&b, "; still waiting for party %d", e.Waiting[0])
		} else {
			fmt.Fprintf(&b, "; still waiting for parties %s", joinNumbers(e.Waiting))
		}
	}
	return b.String()
}

func (e *PartyError) Unwrap() error { return e.Err }

// Failures is the error of Keygen and Sign when parties failed: one entry per failed party.
type Failures []*PartyError

// Error lists each distinct failure once, causes first; parties that only stopped because another
// failed during setup are counted, not listed.
func (f Failures) Error() string {
	var parts []string
	seen := map[string]bool{}
	aborted := 0
	for _, e := range f {
		if errors.Is(e, errAborted) {
			aborted++
			continue
		}
		msg := e.Error()
		if e.Party == 0 {
			// Before signup parties have no number: the same cause repeats verbatim.
			if seen[msg] {
				continue
			}
			seen[msg] = true
		}
		parts = append(parts, msg)
	}
	if aborted > 0 {
		parts = append(parts, fmt.Sprintf("%d other parties stopped", aborted))
	}
	return strings.Join(parts, "; ")
}

func (f Failures) Unwrap() []error {
	out := make([]error, len(f))
	for i, e := range f {
		out[i] = e
	}
	return out
}
