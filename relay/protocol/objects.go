package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
)

// Parameters of a group (§3.1). Signing needs Threshold+1 parties.
type Parameters struct {
	Parties   uint16 `json:"parties"`
	Threshold uint16 `json:"threshold"`
}

// UnmarshalJSON decodes the struct with member names matched exactly (exactNames) and requires
// both members: the last member naming each must not be null (§2.3: missing → -32602, not a
// rule's -32603 about a zero filled in).
func (p *Parameters) UnmarshalJSON(b []byte) error {
	var raw struct {
		Parties   *uint16 `json:"parties"`
		Threshold *uint16 `json:"threshold"`
	}
	if string(bytes.TrimSpace(b)) == "null" {
		return fmt.Errorf("invalid type: null, expected struct Parameters")
	}
	if err := unmarshalExact(b, &raw); err != nil {
		return err
	}
	if err := missingParameter([2]bool{raw.Parties != nil, raw.Threshold != nil}); err != nil {
		return err
	}
	*p = Parameters{Parties: *raw.Parties, Threshold: *raw.Threshold}
	return nil
}

// Group as the relay returns it (§3.2). Members and sessions are relay state, never serialised.
type Group struct {
	UUID   uuid.UUID  `json:"uuid"`
	Params Parameters `json:"params"`
	Label  string     `json:"label"`
}

// SessionKind is "keygen" or "sign" (§3.3); any other string fails to decode (-32602, §2.3).
type SessionKind string

const (
	KindKeygen SessionKind = "keygen"
	KindSign   SessionKind = "sign"
)

func (k *SessionKind) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("session kind must be a string: %w", err)
	}
	switch SessionKind(s) {
	case KindKeygen, KindSign:
		*k = SessionKind(s)
		return nil
	}
	return fmt.Errorf("unknown variant `%s`, expected `keygen` or `sign`", s)
}

// Required is the number of parties at which sessionSignup/sessionLoad fire (§4.5).
func (k SessionKind) Required(p Parameters) int {
	if k == KindSign {
		return int(p.Threshold) + 1
	}
	return int(p.Parties)
}

// Session as the relay returns it (§3.3). Value is public data, null when absent.
type Session struct {
	UUID  uuid.UUID       `json:"uuid"`
	Kind  SessionKind     `json:"kind"`
	Value json.RawMessage `json:"value"`
}

// Message is the payload of Session.message and of the sessionMessage event (§3.5).
// Receiver nil means broadcast; the relay forwards it as null (COMPAT).
type Message struct {
	Round    uint16          `json:"round"`
	Sender   uint16          `json:"sender"`
	Receiver *uint16         `json:"receiver"`
	UUID     uuid.UUID       `json:"uuid"`
	Body     json.RawMessage `json:"body"`
}

// UnmarshalJSON requires round, sender and uuid (§3.5: missing → -32602), matching member
// names exactly (exactNames): "ROUND" is an unknown member, "Receiver" no receiver.
func (m *Message) UnmarshalJSON(b []byte) error {
	var raw struct {
		Round    *uint16         `json:"round"`
		Sender   *uint16         `json:"sender"`
		Receiver *uint16         `json:"receiver"`
		UUID     *uuid.UUID      `json:"uuid"`
		Body     json.RawMessage `json:"body"`
	}
	if err := unmarshalExact(b, &raw); err != nil {
		return err
	}
	switch {
	case raw.Round == nil:
		return fmt.Errorf("missing field `round`")
	case raw.Sender == nil:
		return fmt.Errorf("missing field `sender`")
	case raw.UUID == nil:
		return fmt.Errorf("missing field `uuid`")
	}
	*m = Message{Round: *raw.Round, Sender: *raw.Sender, Receiver: raw.Receiver, UUID: *raw.UUID, Body: raw.Body}
	if m.Body == nil {
		m.Body = nullJSON
	}
	return nil
}

// Broadcast reports whether the message goes to every other party (§4.7).
func (m *Message) Broadcast() bool { return m.Receiver == nil }

// Proposal is the payload of the notifyProposal event (§4.9).
type Proposal struct {
	SessionID  string `json:"sessionId"`
	ProposalID string `json:"proposalId"`
	Message    string `json:"message"`
}

// Receiver returns a pointer to n, for building peer-to-peer messages.
func Receiver(n uint16) *uint16 { return &n }
