package client

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"mpcrelay/relay/protocol"
)

// call sends typed params and decodes the result into out (nil: the result is ignored).
func (c *Client) call(ctx context.Context, method string, params any, out any) error {
	res, err := c.Call(ctx, method, params)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(res, out); err != nil {
		return fmt.Errorf("%s: decode result %s: %w", method, res, err)
	}
	return nil
}

func encodeValue(v any) (json.RawMessage, error) {
	if raw, ok := v.(json.RawMessage); ok {
		return raw, nil
	}
	return json.Marshal(v)
}

// GroupCreate creates a group whose only member is the caller (§4.1).
func (c *Client) GroupCreate(ctx context.Context, label string, p protocol.Parameters) (uuid.UUID, error) {
	var id uuid.UUID
	err := c.call(ctx, protocol.MethodGroupCreate, protocol.GroupCreateParams{Label: label, Params: p}, &id)
	return id, err
}

// GroupJoin joins a group (§4.2). Joining a full group makes the relay close the connection.
func (c *Client) GroupJoin(ctx context.Context, group uuid.UUID) (protocol.Group, error) {
	var g protocol.Group
	err := c.call(ctx, protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: group}, &g)
	return g, err
}

// SessionCreate creates a session; value is public data (nil is sent as null) (§4.3).
func (c *Client) SessionCreate(ctx context.Context, group uuid.UUID, kind protocol.SessionKind, value any) (protocol.Session, error) {
	v, err := encodeValue(value)
	if err != nil {
		return protocol.Session{}, fmt.Errorf("%s: encode value: %w", protocol.MethodSessionCreate, err)
	}
	var s protocol.Session
	err = c.call(ctx, protocol.MethodSessionCreate, protocol.SessionCreateParams{GroupID: group, Kind: kind, Value: v}, &s)
	return s, err
}

// SessionJoin returns the session object (§4.4); it does not make the caller a party.
func (c *Client) SessionJoin(ctx context.Context, group, session uuid.UUID, kind protocol.SessionKind) (protocol.Session, error) {
	var s protocol.Session
	err := c.call(ctx, protocol.MethodSessionJoin, protocol.SessionParams{GroupID: group, SessionID: session, Kind: kind}, &s)
	return s, err
}

// SessionSignup issues the caller the next party number (§4.5).
func (c *Client) SessionSignup(ctx context.Context, group, session uuid.UUID, kind protocol.SessionKind) (uint16, error) {
	var n uint16
	err := c.call(ctx, protocol.MethodSessionSignup, protocol.SessionParams{GroupID: group, SessionID: session, Kind: kind}, &n)
	return n, err
}

// SessionLoad claims a given party number (§4.6).
func (c *Client) SessionLoad(ctx context.Context, group, session uuid.UUID, kind protocol.SessionKind, number uint16) (uint16, error) {
	var n uint16
	err := c.call(ctx, protocol.MethodSessionLoad, protocol.SessionLoadParams{GroupID: group, SessionID: session, Kind: kind, Number: number}, &n)
	return n, err
}

// SessionMessage sends a broadcast (m.Receiver nil) or peer-to-peer message (§4.7).
func (c *Client) SessionMessage(ctx context.Context, group, session uuid.UUID, kind protocol.SessionKind, m protocol.Message) error {
	return c.call(ctx, protocol.MethodSessionMessage, protocol.SessionMessageParams{GroupID: group, SessionID: session, Kind: kind, Message: m}, nil)
}

// SessionFinish marks the caller's party number finished (§4.8).
func (c *Client) SessionFinish(ctx context.Context, group, session uuid.UUID, number uint16) error {
	return c.call(ctx, protocol.MethodSessionFinish, protocol.SessionFinishParams{GroupID: group, SessionID: session, Number: number}, nil)
}

// NotifyProposal pushes a proposal to the other members of the group (§4.9).
func (c *Client) NotifyProposal(ctx context.Context, group, session uuid.UUID, proposalID, message string) error {
	return c.call(ctx, protocol.MethodNotifyProposal, protocol.NotifyProposalParams{GroupID: group, SessionID: session, ProposalID: proposalID, Message: message}, nil)
}

// NotifySigned tells the members that are not parties of the session the result (§4.10).
func (c *Client) NotifySigned(ctx context.Context, group, session uuid.UUID, value any) error {
	v, err := encodeValue(value)
	if err != nil {
		return fmt.Errorf("%s: encode value: %w", protocol.MethodNotifySigned, err)
	}
	return c.call(ctx, protocol.MethodNotifySigned, protocol.NotifySignedParams{GroupID: group, SessionID: session, Value: v}, nil)
}
