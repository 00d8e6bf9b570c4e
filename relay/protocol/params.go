package protocol

import (
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
)

// The params of each method (§4). Each encodes as the positional JSON array of the protocol and
// decodes strictly: wrong arity or a wrong element type is an error the relay answers with -32602.

// decodeArray fills fields from a JSON array of between min and len(fields) elements.
func decodeArray(raw json.RawMessage, min int, fields ...any) error {
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return fmt.Errorf("params must be an array: %v", err)
	}
	if len(elems) < min || len(elems) > len(fields) {
		if min == len(fields) {
			return fmt.Errorf("invalid length %d, expected %d elements", len(elems), len(fields))
		}
		return fmt.Errorf("invalid length %d, expected %d to %d elements", len(elems), min, len(fields))
	}
	for i, e := range elems {
		// encoding/json leaves a field untouched on null; the protocol's decoder refuses it.
		if _, raw := fields[i].(*json.RawMessage); !raw && string(e) == "null" {
			return fmt.Errorf("element %d: invalid type: null", i)
		}
		if err := json.Unmarshal(e, fields[i]); err != nil {
			return fmt.Errorf("element %d: %v", i, err)
		}
	}
	return nil
}

// GroupCreateParams: [label, parameters] (§4.1).
type GroupCreateParams struct {
	Label  string
	Params Parameters
}

func (p GroupCreateParams) MarshalJSON() ([]byte, error) {
	return json.Marshal([]any{p.Label, p.Params})
}
func (p *GroupCreateParams) UnmarshalJSON(b []byte) error {
	return decodeArray(b, 2, &p.Label, &p.Params)
}

// GroupJoinParams: the group uuid as a bare string, not an array (§4.2).
type GroupJoinParams struct {
	GroupID uuid.UUID
}

func (p GroupJoinParams) MarshalJSON() ([]byte, error) { return json.Marshal(p.GroupID) }
func (p *GroupJoinParams) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return fmt.Errorf("invalid type: null, expected a group uuid string")
	}
	return json.Unmarshal(b, &p.GroupID)
}

// SessionCreateParams: [group_id, kind, value] (§4.3). Value nil is sent as null.
type SessionCreateParams struct {
	GroupID uuid.UUID
	Kind    SessionKind
	Value   json.RawMessage
}

func (p SessionCreateParams) MarshalJSON() ([]byte, error) {
	v := p.Value
	if v == nil {
		v = nullJSON
	}
	return json.Marshal([]any{p.GroupID, p.Kind, v})
}

// UnmarshalJSON accepts [group_id, kind] too (§4.3: INFO), reading the value as null.
func (p *SessionCreateParams) UnmarshalJSON(b []byte) error {
	p.Value = nil
	if err := decodeArray(b, 2, &p.GroupID, &p.Kind, &p.Value); err != nil {
		return err
	}
	if p.Value == nil {
		p.Value = nullJSON
	}
	return nil
}

// SessionParams: [group_id, session_id, kind] — Session.join and Session.signup (§4.4, §4.5).
type SessionParams struct {
	GroupID   uuid.UUID
	SessionID uuid.UUID
	Kind      SessionKind
}

func (p SessionParams) MarshalJSON() ([]byte, error) {
	return json.Marshal([]any{p.GroupID, p.SessionID, p.Kind})
}
func (p *SessionParams) UnmarshalJSON(b []byte) error {
	return decodeArray(b, 3, &p.GroupID, &p.SessionID, &p.Kind)
}

// SessionLoadParams: [group_id, session_id, kind, number] (§4.6).
type SessionLoadParams struct {
	GroupID   uuid.UUID
	SessionID uuid.UUID
	Kind      SessionKind
	Number    uint16
}

func (p SessionLoadParams) MarshalJSON() ([]byte, error) {
	return json.Marshal([]any{p.GroupID, p.SessionID, p.Kind, p.Number})
}
func (p *SessionLoadParams) UnmarshalJSON(b []byte) error {
	return decodeArray(b, 4, &p.GroupID, &p.SessionID, &p.Kind, &p.Number)
}

// SessionMessageParams: [group_id, session_id, kind, message] (§4.7).
type SessionMessageParams struct {
	GroupID   uuid.UUID
	SessionID uuid.UUID
	Kind      SessionKind
	Message   Message
}

func (p SessionMessageParams) MarshalJSON() ([]byte, error) {
	return json.Marshal([]any{p.GroupID, p.SessionID, p.Kind, p.Message})
}
func (p *SessionMessageParams) UnmarshalJSON(b []byte) error {
	return decodeArray(b, 4, &p.GroupID, &p.SessionID, &p.Kind, &p.Message)
}

// SessionFinishParams: [group_id, session_id, number] (§4.8).
type SessionFinishParams struct {
	GroupID   uuid.UUID
	SessionID uuid.UUID
	Number    uint16
}

func (p SessionFinishParams) MarshalJSON() ([]byte, error) {
	return json.Marshal([]any{p.GroupID, p.SessionID, p.Number})
}
func (p *SessionFinishParams) UnmarshalJSON(b []byte) error {
	return decodeArray(b, 3, &p.GroupID, &p.SessionID, &p.Number)
}

// NotifyProposalParams: [group_id, session_id, proposal_id, message] (§4.9).
type NotifyProposalParams struct {
	GroupID    uuid.UUID
	SessionID  uuid.UUID
	ProposalID string
	Message    string
}

func (p NotifyProposalParams) MarshalJSON() ([]byte, error) {
	return json.Marshal([]any{p.GroupID, p.SessionID, p.ProposalID, p.Message})
}
func (p *NotifyProposalParams) UnmarshalJSON(b []byte) error {
	return decodeArray(b, 4, &p.GroupID, &p.SessionID, &p.ProposalID, &p.Message)
}

// NotifySignedParams: [group_id, session_id, value] (§4.10).
type NotifySignedParams struct {
	GroupID   uuid.UUID
	SessionID uuid.UUID
	Value     json.RawMessage
}

func (p NotifySignedParams) MarshalJSON() ([]byte, error) {
	v := p.Value
	if v == nil {
		v = nullJSON
	}
	return json.Marshal([]any{p.GroupID, p.SessionID, v})
}
func (p *NotifySignedParams) UnmarshalJSON(b []byte) error {
	return decodeArray(b, 3, &p.GroupID, &p.SessionID, &p.Value)
}
