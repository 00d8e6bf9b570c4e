package relay

import (
	"encoding/json"
	"fmt"
	"runtime/debug"
	"strconv"
	"sync"

	"mpcrelay/relay/protocol"
)

// call is one request being answered. Its methods queue frames at once, so a handler that
// answers and then emits while holding its group's lock puts the response before its events
// (§1.3), and the frames of one group in the order of its state changes.
type call struct {
	s         *Server
	c         *conn
	req       protocol.Call // decoded in one pass; its raw parts alias the frame
	answered  bool
	closeConn bool // §2.5: close the connection after the answer
}

// calls recycles call values: a request's decoded form lives only while it runs.
var calls = sync.Pool{New: func() any { return new(call) }}

// dispatch runs one text frame of c. It reports whether the connection must be closed.
func (s *Server) dispatch(c *conn, frame []byte) bool {
	x := calls.Get().(*call)
	defer func() {
		*x = call{} // no reference to the frame or the connection stays in the pool
		calls.Put(x)
	}()
	x.s, x.c = s, c
	if perr := protocol.DecodeCall(frame, &x.req); perr != nil {
		if s.cl != nil && c.remote == nil {
			s.cl.drain(c) // cluster mode: answered after its forwarded predecessors (§1.3)
		}
		s.metrics.frameIn(labelInvalid, len(frame))
		s.metrics.errorSent(perr.Code)
		if s.cfg.Compat {
			return false // COMPAT §1.4: the original answers nothing
		}
		id := x.req.ID
		if id == nil {
			id = protocol.NullID
		}
		c.enqueue(outFrame{data: protocol.EncodeError(id, perr), kind: outError})
		return false
	}
	req := &x.req
	s.metrics.frameIn(req.Method, len(frame))
	defer func() {
		if r := recover(); r != nil {
			// A bug in one request must not reach the client or other connections (§6.2).
			s.metrics.panics.Inc()
			c.log().Error("request panicked", "method", req.Method, "panic", r, "stack", string(debug.Stack()))
			if !x.answered {
				x.fail(protocol.ErrInternal(fmt.Sprint(r)))
			}
		}
	}()
	if s.cl != nil && c.remote == nil {
		// Cluster mode: a group of another node is served there (cluster_link.go).
		if forwarded, closeConn := s.cl.route(x, frame); forwarded {
			return closeConn
		}
	}
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

// paramsOK answers -32602 with the decoder's text when the params did not have the method's
// shape (§2.3).
func (x *call) paramsOK() bool {
	if e := x.req.ParamsErr; e != nil {
		x.fail(e)
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
	// A response goes to one connection only, so its buffer can be recycled once written.
	buf := responseBuffers.Get().(*[]byte)
	*buf = appendResponse((*buf)[:0], x.req.ID, result)
	x.c.enqueue(outFrame{data: *buf, kind: outResponse, recycle: buf})
}

// responseBuffers holds the buffers of success responses, returned by the writer (outFrame.done).
var responseBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 64); return &b }}

// maxRecycled keeps large results (a group or session object with a big value) out of the pool.
const maxRecycled = 1 << 10

// okValue answers with v encoded as JSON.
func (x *call) okValue(v any) {
	b, err := marshal(v)
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
	x.c.enqueue(outFrame{data: protocol.EncodeError(x.req.ID, e), kind: outError, closeConn: e.ClosesConnection()})
}

// emit sends one event frame to each receiver, in order; all receivers share the frame.
func (x *call) emit(name string, payload json.RawMessage, to []member) {
	if len(to) == 0 {
		return
	}
	x.deliver(outFrame{data: appendEvent(nil, name, payload), kind: outEvent(name)}, to)
}

// deliver queues one event frame, encoded once, on each receiver in order. Every fan-out of
// an event goes through here, while the group's lock is held (§1.3). In cluster mode the
// receivers on another node get it in one message per node (cluster_link.go).
func (x *call) deliver(f outFrame, to []member) {
	if x.s.cl != nil {
		x.s.cl.deliver(f, to)
		return
	}
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
