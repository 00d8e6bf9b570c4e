package relay

import (
	"encoding/json"
	"fmt"
	"runtime/debug"
	"strconv"

	"mpcrelay/relay/protocol"
)

// call is one request being answered. Its methods queue frames at once, so a handler that
// answers and then emits while holding its group's lock puts the response before its events
// (§1.3), and the frames of one group in the order of its state changes.
type call struct {
	s         *Server
	c         *conn
	req       *protocol.Request
	answered  bool
	closeConn bool // §2.5: close the connection after the answer
}

// dispatch runs one text frame of c. It reports whether the connection must be closed.
func (s *Server) dispatch(c *conn, frame []byte) bool {
	req, id, perr := protocol.DecodeRequest(frame)
	if perr != nil {
		s.metrics.frameIn(labelInvalid, len(frame))
		s.metrics.errorSent(perr.Code)
		if s.cfg.Compat {
			return false // COMPAT §1.4: the original answers nothing
		}
		if id == nil {
			id = protocol.NullID
		}
		c.enqueue(&outFrame{data: protocol.EncodeError(id, perr), kind: outError})
		return false
	}
	s.metrics.frameIn(req.Method, len(frame))
	x := &call{s: s, c: c, req: req}
	defer func() {
		if r := recover(); r != nil {
			// A bug in one request must not reach the client or other connections (§6.2).
			s.metrics.panics.Inc()
			c.log.Error("request panicked", "method", req.Method, "panic", r, "stack", string(debug.Stack()))
			if !x.answered {
				x.fail(protocol.ErrInternal(fmt.Sprint(r)))
			}
		}
	}()
	switch req.Method {
	case protocol.MethodGroupCreate:
		s.groupCreate(x)
	case protocol.MethodGroupJoin:
		s.groupJoin(x)
	case protocol.MethodSessionCreate:
		s.sessionCreate(x)
	case protocol.MethodSessionJoin:
		s.sessionJoin(x)
	case protocol.MethodSessionSignup:
		s.sessionSignup(x)
	case protocol.MethodSessionLoad:
		s.sessionLoad(x)
	case protocol.MethodSessionMessage:
		s.sessionMessage(x)
	case protocol.MethodSessionFinish:
		s.sessionFinish(x)
	case protocol.MethodNotifyProposal:
		s.notifyProposal(x)
	case protocol.MethodNotifySigned:
		s.notifySigned(x)
	default:
		x.fail(protocol.ErrMethodNotFound(req.Method))
	}
	if !x.answered {
		panic(fmt.Sprintf("relay bug: %s returned without an answer", req.Method))
	}
	return x.closeConn
}

// params decodes the request's params into p, answering -32602 with the decoder's text (§2.3).
// The params are a JSON value already checked by DecodeRequest, so p's own decoder runs
// directly, without json.Unmarshal validating them once more.
func (x *call) params(p json.Unmarshaler) bool {
	if x.req.Params == nil {
		x.fail(protocol.ErrInvalidParams("missing params"))
		return false
	}
	if err := p.UnmarshalJSON(x.req.Params); err != nil {
		x.fail(protocol.ErrInvalidParams(err.Error()))
		return false
	}
	return true
}

// ok answers with result (JSON), or as a void method when result is nil (§2.2).
// Notifications get no success response (§2.1).
func (x *call) ok(result json.RawMessage) {
	x.answered = true
	if x.req.IsNotification() {
		return
	}
	if result == nil && !x.s.cfg.Compat {
		result = protocol.NullResult // §2.2 SHOULD; COMPAT omits "result"
	}
	x.c.enqueue(&outFrame{data: appendResponse(nil, x.req.ID, result), kind: outResponse})
}

// okValue answers with v encoded as JSON.
func (x *call) okValue(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		x.fail(protocol.ErrInternal(err.Error()))
		return
	}
	x.ok(b)
}

// fail answers with an error (§2.3). A failing notification gets nothing back, except in
// COMPAT mode, where the original sends the error object without an id (§2.1).
func (x *call) fail(e *protocol.Error) {
	x.answered = true
	x.closeConn = x.closeConn || e.ClosesConnection()
	x.s.metrics.errorSent(e.Code)
	if x.req.IsNotification() && !x.s.cfg.Compat {
		return
	}
	x.c.enqueue(&outFrame{data: protocol.EncodeError(x.req.ID, e), kind: outError})
}

// emit sends one event frame to each receiver, in order; all receivers share the frame.
func (x *call) emit(name string, payload json.RawMessage, to []member) {
	if len(to) == 0 {
		return
	}
	deliver(&outFrame{data: appendEvent(nil, name, payload), kind: outEvent(name)}, to)
}

// deliver queues one event frame, encoded once, on each receiver in order. Every fan-out of
// an event goes through here, while the group's lock is held (§1.3).
func deliver(f *outFrame, to []member) {
	for _, r := range to {
		r.enqueue(f)
	}
}

// appendResponse writes {"jsonrpc":"2.0","id":<id>[,"result":<result>]} (§2.2).
func appendResponse(b []byte, id, result json.RawMessage) []byte {
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = append(b, id...)
	if result != nil {
		b = append(b, `,"result":`...)
		b = append(b, result...)
	}
	return append(b, '}')
}

// appendEvent writes {"jsonrpc":"2.0","id":0,"result":["<name>",<payload>]} (§2.4); it is
// protocol.EncodeEvent without the intermediate values, for the message hot path.
func appendEvent(b []byte, name string, payload json.RawMessage) []byte {
	if b == nil {
		b = make([]byte, 0, len(payload)+len(name)+48)
	}
	b = append(b, `{"jsonrpc":"2.0","id":0,"result":[`...)
	b = strconv.AppendQuote(b, name) // event names are plain ASCII
	b = append(b, ',')
	b = append(b, payload...)
	return append(b, "]}"...)
}
