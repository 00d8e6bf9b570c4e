package simparty

import (
	"context"
	"regexp"
	"strconv"

	"mpcrelay/relay/protocol"
)

// Link carries one party's messages to the other parties of its session: Session.message out,
// sessionMessage in (§4.7). The relay Link and the in-memory one (memory.go) are interchangeable,
// which is what lets the benchmark compare them.
type Link interface {
	// Send delivers m to m.Receiver, or to every other party when m.Receiver is nil.
	Send(ctx context.Context, m protocol.Message) error
	// Next returns the next message for this party, in arrival order. It fails when the connection
	// has ended or ctx is done.
	Next(ctx context.Context) (protocol.Message, error)
}

// tssBody is the body of a Session.message that carries one tss-lib message (§3.5: the relay
// never reads it). It holds what the receiver needs for UpdateFromBytes.
type tssBody struct {
	Sender    uint16 `json:"sender"`    // the sender's party number in the session (→ its PartyID)
	Broadcast bool   `json:"broadcast"` // passed to UpdateFromBytes; a wrong flag makes tss-lib wait forever
	Type      string `json:"type"`      // protobuf type name, for traces
	Wire      []byte `json:"wire"`      // msg.WireBytes(), base64 in JSON
}

// introBody is the body of round 0 in signup-mode signing: which keygen party's share the sender
// holds, and of which key and message, so that signers map session numbers to keygen keys.
type introBody struct {
	KeygenParty uint16 `json:"keygen_party"`
	PublicKey   string `json:"public_key"`
	Message     string `json:"message"`
}

// introRound is the Session.message round of the signup-mode index exchange; tss-lib rounds are 1-based.
const introRound = 0

var roundInType = regexp.MustCompile(`Round(\d+)`)

// roundOf reads the round from a tss-lib message type name (KGRound2Message1 → 2).
func roundOf(typeName string) int {
	m := roundInType.FindStringSubmatch(typeName)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
