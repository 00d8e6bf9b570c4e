package simparty

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/google/uuid"

	"mpcrelay/relay/protocol"
)

// Progress phases, in the order a party goes through them.
const (
	PhaseConnect = "connect" // dialled the relay, joined the group
	PhaseSignup  = "signup"  // holds a party number (Party is set)
	PhaseStart   = "start"   // every party is in: tss-lib starts
	PhaseRound   = "round"   // the party sent the first message of Round
	PhaseMessage = "message" // one Session.message sent (Receiver, Size, Body set)
	PhaseDone    = "done"    // tss-lib finished; result in hand
	PhaseClosed  = "closed"  // sessionClosed received (§4.8)
)

// Progress is one event of one party, for progress bars and trace recording.
type Progress struct {
	Phase    string
	Kind     protocol.SessionKind
	Session  uuid.UUID // uuid.Nil on the in-memory router
	Party    uint16    // the party's number in the session (0 before it has one)
	Round    int
	Receiver *uint16         // PhaseMessage: the receiver's party number; nil = broadcast
	Size     int             // PhaseMessage: body size in bytes
	Body     json.RawMessage // PhaseMessage: the body as sent
	At       time.Time
}

// reporter serialises Progress calls so callers need no locking of their own.
type reporter struct {
	mu sync.Mutex
	f  func(Progress)
}

func newReporter(f func(Progress)) *reporter { return &reporter{f: f} }

func (r *reporter) report(p Progress) {
	if r == nil || r.f == nil {
		return
	}
	p.At = time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.f(p)
}
