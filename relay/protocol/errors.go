package protocol

import (
	"fmt"

	"github.com/google/uuid"
)

// Error codes (§2.3, §1.4).
const (
	CodeParseError     = -32700 // frame is not JSON (§1.4, SHOULD)
	CodeInvalidRequest = -32600 // JSON but not a request object (§1.4, SHOULD)
	CodeMethodNotFound = -32601 // unknown method (§2.3)
	CodeInvalidParams  = -32602 // params do not decode into the §3 shape (§2.3)
	CodeInternal       = -32603 // a protocol rule broken by the request (§2.3)
)

// CloseConnection is the error data that announces the relay closes the connection (§2.5).
const CloseConnection = "close-connection"

// Error is the JSON-RPC error object (§2.3). It is also a Go error.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    string `json:"data,omitempty"`
}

func (e *Error) Error() string {
	if e.Data != "" {
		return fmt.Sprintf("rpc error %d: %s (%s)", e.Code, e.Message, e.Data)
	}
	return fmt.Sprintf("rpc error %d: %s", e.Code, e.Message)
}

// ClosesConnection reports whether the relay closes the connection after this error (§2.5).
func (e *Error) ClosesConnection() bool { return e.Data == CloseConnection }

func ruleError(format string, args ...any) *Error {
	return &Error{Code: CodeInternal, Message: fmt.Sprintf(format, args...)}
}

// The error texts of the original server (§5). Relays may word them differently; the codes are MUST.

func ErrParse(detail string) *Error {
	return &Error{Code: CodeParseError, Message: "Parse error", Data: detail}
}
func ErrInvalidRequest(detail string) *Error {
	return &Error{Code: CodeInvalidRequest, Message: "Invalid Request", Data: detail}
}
func ErrMethodNotFound(method string) *Error {
	return &Error{Code: CodeMethodNotFound, Message: "Service method not found: " + method}
}
func ErrInvalidParams(detail string) *Error {
	return &Error{Code: CodeInvalidParams, Message: "Message parameters are invalid", Data: detail}
}
func ErrInternal(detail string) *Error { return ruleError("internal error: %s", detail) }

func ErrPartiesTooFew() *Error             { return ruleError("parties must be greater than one") }
func ErrThresholdZero() *Error             { return ruleError("threshold must be greater than zero") }
func ErrThresholdTooLarge() *Error         { return ruleError("threshold must be less than parties") }
func ErrGroupNotFound(id uuid.UUID) *Error { return ruleError("group %s does not exist", id) }

// ErrSessionNotFound keeps the original's slip of saying "group" for an unknown session (§5).
func ErrSessionNotFound(id uuid.UUID) *Error { return ruleError("group %s does not exist", id) }
func ErrGroupFull(id uuid.UUID) *Error {
	e := ruleError("group %s is full, cannot accept new connections", id)
	e.Data = CloseConnection
	return e
}
func ErrNotMember(conn uint64, group uuid.UUID) *Error {
	return ruleError("client %d does not belong to the group %s", conn, group)
}
func ErrPartyNotFound(n uint16) *Error { return ruleError("party %d does not exist", n) }
func ErrPartyNotYours(n uint16) *Error { return ruleError("party %d is not valid in this context", n) }
func ErrReceiverNotFound(n uint16) *Error {
	return ruleError("receiver %d for peer to peer message does not exist", n)
}
func ErrPartyZero() *Error       { return ruleError("party number may not be zero") }
func ErrPartyOutOfRange() *Error { return ruleError("party number is out of range") }
func ErrPartyTaken(session uuid.UUID) *Error {
	return ruleError("party number already exists for session %s", session)
}

// ErrSessionFull is the reference relay's strict refusal of signups beyond the required count (§4.5 SHOULD).
func ErrSessionFull(session uuid.UUID) *Error {
	return ruleError("session %s already has all its parties", session)
}
