package faultproxy

import (
	"encoding/json"
	"time"

	"mpcrelay/relay/protocol"
)

// Direction is the way a frame travels through the proxy.
type Direction int

const (
	// ToRelay is a frame the client sent, on its way to the relay.
	ToRelay Direction = iota + 1
	// ToClient is a frame the relay sent, on its way to the client.
	ToClient
)

func (d Direction) String() string {
	switch d {
	case ToRelay:
		return "to-relay"
	case ToClient:
		return "to-client"
	}
	return "any"
}

// Kind classifies a decoded frame.
type Kind int

const (
	KindOther    Kind = iota // not a JSON-RPC frame (garbage, binary, batch)
	KindRequest              // client request (§2.1)
	KindResponse             // success or error response (§2.2, §2.3)
	KindEvent                // server push with "id":0 (§2.4)
)

// RPC is the decoded JSON-RPC view of a frame. For a response, Method and Params are those of
// the request it answers (tracked per connection), so rules can match "the error answering
// Session.load".
type RPC struct {
	Kind    Kind
	ID      json.RawMessage
	Method  string
	Params  json.RawMessage
	Result  json.RawMessage // responses; nil when absent
	Error   *protocol.Error // error responses
	Event   string          // events: the event name
	Payload json.RawMessage // events: the payload
}

// IsEvent reports whether the frame is the named event (any event when name is "").
func (r RPC) IsEvent(name string) bool {
	return r.Kind == KindEvent && (name == "" || r.Event == name)
}

// IsResponseTo reports whether the frame answers a request of method.
func (r RPC) IsResponseTo(method string) bool { return r.Kind == KindResponse && r.Method == method }

// IsRequest reports whether the frame is a request of method (any method when "").
func (r RPC) IsRequest(method string) bool {
	return r.Kind == KindRequest && (method == "" || r.Method == method)
}

// Frame is one WebSocket data frame passing through the proxy. Rules inspect it and call its
// effect methods; the proxy applies the effects after the rules ran.
type Frame struct {
	Conn   *Conn
	Dir    Direction
	Binary bool
	Data   []byte
	RPC    RPC
	At     time.Time
	// Control is set on the frames only control rules (Rule.Control) see: "ping" (a client's
	// ping on its way to the relay; Data is its payload), "pong" (the relay's pong on its way
	// back) and "close" (the client left; the relay is told unless a rule drops it).
	Control string
	// CloseCode is the code of the client's close frame ("close"); 0 when its socket ended
	// without one (a cut TCP connection).
	CloseCode int
	// PingInside reports a data frame during whose reading a ping came: a control frame
	// between the fragments of the message (RFC 6455 §5.4). The proxy forwards the ping at
	// once, so the relay gets it before the message.
	PingInside bool

	drop      bool
	copies    int
	delay     time.Duration
	await     <-chan struct{}
	awaitMax  time.Duration
	hold      time.Duration
	injects   []injection
	closeCode int
	closeText string
}

type injection struct {
	conn *Conn
	dir  Direction
	data []byte
}

// Drop discards the frame.
func (f *Frame) Drop() { f.drop = true }

// Replace writes data instead of the frame.
func (f *Frame) Replace(data []byte) { f.Data = data }

// Duplicate writes the frame one more time (call it n times for n extra copies).
func (f *Frame) Duplicate() { f.copies++ }

// Delay holds the pump for d before writing the frame; later frames of the same direction and
// connection wait behind it, as on a slow link.
func (f *Frame) Delay(d time.Duration) { f.delay += d }

// Await holds the pump, like Delay, until release is closed or max has passed: a barrier, so
// that a frame waits for something another connection does rather than for a fixed time.
func (f *Frame) Await(release <-chan struct{}, max time.Duration) {
	f.await, f.awaitMax = release, max
}

// Hold reorders: the frame is written right after the next frame of the same direction and
// connection, or after d when no such frame comes.
func (f *Frame) Hold(d time.Duration) { f.hold = d }

// Inject writes data to conn in direction dir after this frame (conn may be another connection).
func (f *Frame) Inject(conn *Conn, dir Direction, data []byte) {
	f.injects = append(f.injects, injection{conn, dir, data})
}

// Close ends the connection (both sides) instead of forwarding the frame; the client gets a
// close frame with code and text.
func (f *Frame) Close(code int, text string) {
	f.drop = true
	f.closeCode, f.closeText = code, text
}

func decodeRPC(dir Direction, data []byte) RPC {
	if dir == ToRelay {
		req, _, perr := protocol.DecodeRequest(data)
		if perr != nil {
			return RPC{Kind: KindOther}
		}
		return RPC{Kind: KindRequest, ID: req.ID, Method: req.Method, Params: req.Params}
	}
	in, err := protocol.DecodeIncoming(data)
	if err != nil {
		return RPC{Kind: KindOther}
	}
	if in.IsEvent() {
		ev, err := in.Event()
		if err != nil {
			return RPC{Kind: KindOther, ID: in.ID}
		}
		return RPC{Kind: KindEvent, ID: in.ID, Result: in.Result, Event: ev.Name, Payload: ev.Payload}
	}
	return RPC{Kind: KindResponse, ID: in.ID, Result: in.Result, Error: in.Error}
}
