package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Version is the only "jsonrpc" value of the protocol (§2).
const Version = "2.0"

// EventID is the id every event carries and no request uses (§2.4).
const EventID = 0

var (
	nullJSON  = json.RawMessage("null")
	eventIDJS = json.RawMessage("0")
)

// Request is a client request (§2.1). A nil ID means a notification (no success response).
type Request struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params,omitempty"`
}

// IsNotification reports whether the request has no id (§2.1).
func (r *Request) IsNotification() bool { return r.ID == nil }

// NewRequest builds a request with a numeric id and params encoded from p.
func NewRequest(id uint64, method string, p any) ([]byte, error) {
	params, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode params of %s: %w", method, err)
	}
	return json.Marshal(Request{JSONRPC: Version, ID: json.RawMessage(strconv.FormatUint(id, 10)), Method: method, Params: params})
}

// DecodeRequest parses one text frame (§1.2, §1.4). On failure it returns the error to answer
// with and the request id when one could be read (nil otherwise, answered as "id":null).
func DecodeRequest(frame []byte) (*Request, json.RawMessage, *Error) {
	trimmed := bytes.TrimLeft(frame, " \t\r\n")
	if !json.Valid(trimmed) {
		return nil, nil, ErrParse("frame is not valid JSON")
	}
	if len(trimmed) == 0 || trimmed[0] != '{' {
		if trimmed[0] == '[' {
			return nil, nil, ErrInvalidRequest("batches are not supported")
		}
		return nil, nil, ErrInvalidRequest("frame is not a JSON object")
	}
	var raw struct {
		JSONRPC *string         `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Method  *string         `json:"method"`
		Params  json.RawMessage `json:"params"`
	}
	if err := unmarshalExact(trimmed, &raw); err != nil { // "Method" is not "method"
		return nil, nil, ErrInvalidRequest(err.Error())
	}
	id := raw.ID
	if id != nil && !validID(id) {
		return nil, nil, ErrInvalidRequest("id must be a number, a string or null")
	}
	if raw.JSONRPC == nil || *raw.JSONRPC != Version {
		return nil, id, ErrInvalidRequest(`"jsonrpc" must be "2.0"`)
	}
	if raw.Method == nil {
		return nil, id, ErrInvalidRequest(`"method" must be a string`)
	}
	return &Request{JSONRPC: Version, ID: id, Method: *raw.Method, Params: raw.Params}, id, nil
}

func validID(id json.RawMessage) bool {
	switch id[0] {
	case '"', 'n':
		return true
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return true
	}
	return false
}

// Response is a success or error response (§2.2, §2.3). A nil ID is written as omitted
// (the original's error to a notification); a nil Result with no Error is written without
// "result" (the original's form for void methods); use NullResult for "result":null.
type Response struct {
	ID     json.RawMessage
	Result json.RawMessage
	Error  *Error
}

// NullResult is the JSON-RPC 2.0 result of a void method (§2.2).
var NullResult = nullJSON

// NullID answers a frame whose id could not be read (§1.4).
var NullID = nullJSON

func (r Response) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"jsonrpc":"2.0"`)
	if r.ID != nil {
		b.WriteString(`,"id":`)
		b.Write(r.ID)
	}
	if r.Error != nil {
		e, err := json.Marshal(r.Error)
		if err != nil {
			return nil, err
		}
		b.WriteString(`,"error":`)
		b.Write(e)
	} else if r.Result != nil {
		b.WriteString(`,"result":`)
		b.Write(r.Result)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// EncodeResult writes a success response with result v.
func EncodeResult(id json.RawMessage, v any) ([]byte, error) {
	res, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return Response{ID: id, Result: res}.MarshalJSON()
}

// EncodeError writes an error response.
func EncodeError(id json.RawMessage, e *Error) []byte {
	b, _ := Response{ID: id, Error: e}.MarshalJSON() // an Error always marshals
	return b
}

// Event is a server push: {"jsonrpc":"2.0","id":0,"result":["name", payload]} (§2.4).
type Event struct {
	Name    string
	Payload json.RawMessage
}

// EncodeEvent writes an event frame.
func EncodeEvent(name string, payload any) ([]byte, error) {
	p, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("encode %s payload: %w", name, err)
	}
	pair, err := json.Marshal([]json.RawMessage{mustString(name), p})
	if err != nil {
		return nil, err
	}
	return Response{ID: eventIDJS, Result: pair}.MarshalJSON()
}

func mustString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// Incoming is any frame a client receives, decoded to the envelope level.
type Incoming struct {
	ID        json.RawMessage // nil when absent
	Result    json.RawMessage // nil when absent
	HasResult bool            // "result" key present (even as null)
	Error     *Error
}

// DecodeIncoming parses a frame sent by a relay.
func DecodeIncoming(frame []byte) (Incoming, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(frame, &raw); err != nil {
		return Incoming{}, fmt.Errorf("frame is not a JSON object: %w", err)
	}
	var in Incoming
	if v, ok := raw["jsonrpc"]; !ok || string(v) != `"2.0"` {
		return in, fmt.Errorf(`frame lacks "jsonrpc":"2.0"`)
	}
	in.ID = raw["id"]
	in.Result, in.HasResult = raw["result"]
	if e, ok := raw["error"]; ok {
		in.Error = &Error{}
		if err := json.Unmarshal(e, in.Error); err != nil {
			return in, fmt.Errorf("malformed error object: %w", err)
		}
		if in.HasResult {
			return in, fmt.Errorf(`frame has both "result" and "error"`)
		}
	}
	return in, nil
}

// IDNumber returns the id as a number, when it is one.
func (in Incoming) IDNumber() (int64, bool) {
	if in.ID == nil {
		return 0, false
	}
	n, err := strconv.ParseInt(string(in.ID), 10, 64)
	return n, err == nil
}

// IsEvent reports whether the frame is an event: "id":0 (§2.4).
func (in Incoming) IsEvent() bool {
	n, ok := in.IDNumber()
	return ok && n == EventID && in.Error == nil
}

// Event decodes the ["name", payload] pair of an event frame.
func (in Incoming) Event() (Event, error) {
	var pair []json.RawMessage
	if err := json.Unmarshal(in.Result, &pair); err != nil || len(pair) != 2 {
		return Event{}, fmt.Errorf(`event result must be ["name", payload], got %s`, in.Result)
	}
	var ev Event
	if err := json.Unmarshal(pair[0], &ev.Name); err != nil {
		return Event{}, fmt.Errorf("event name must be a string, got %s", pair[0])
	}
	ev.Payload = pair[1]
	return ev, nil
}
