package cluster

import (
	"errors"
	"sync"
)

// Request is a request of another node's connection, run on this node, the owner of its group.
// The handler answers through Respond and sends the events it triggers with Node.Deliver, during
// Handler.Execute; then it sets CloseConn and Holds. Respond, Flush and Finish may be called from
// several goroutines (the request's own, and others delivering to the caller meanwhile).
type Request struct {
	From   NodeID // the connection's home node
	Conn   uint64 // the connection's id on its home node
	Groups int    // groups the connection belongs to on other nodes than this one
	Frame  []byte // the request as the client sent it

	CloseConn bool // §2.5: the response is close-connection
	Holds     int  // groups of this node the connection belongs to after the request

	n     *Node
	reply string
	mu    sync.Mutex
	resp  []byte // the response, held so that it can travel in the done message
	// respClose: the response is a §2.5 close-connection error; the flag goes with it, so that
	// the home node closes the connection even if the done comes too late.
	respClose bool
	// respLost: the response was larger than NATS's max_payload: the done says so instead.
	respLost bool
	done     bool // the done message is sent: nothing more of this request goes out
}

// Respond sets the response to the caller. It travels in the done message, unless a frame for
// the caller is published before that: Flush must then send it first (§1.3).
func (r *Request) Respond(frame []byte) {
	r.mu.Lock()
	if !r.done {
		r.resp = frame
	}
	r.mu.Unlock()
}

// RespondCloseConn is Respond for a §2.5 close-connection error.
func (r *Request) RespondCloseConn(frame []byte) {
	r.mu.Lock()
	if !r.done {
		r.resp, r.respClose = frame, true
	}
	r.mu.Unlock()
}

// Flush publishes the response now, if one is held: call it before publishing any other frame
// for the caller's connection, so that the response comes first.
func (r *Request) Flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.resp == nil {
		return nil
	}
	typ := msgResponse
	if r.respClose {
		typ = msgResponseClose
	}
	msg := appendHead(make([]byte, 0, headLen+len(r.resp)), typ, r.n.id, r.n.epoch.Load())
	msg = append(msg, r.resp...)
	r.resp = nil
	err := r.n.publish(r.reply, "", msg)
	if errors.Is(err, ErrTooLarge) {
		r.respLost = true
	}
	return err
}

// Finish sends the done message (with the response, if still held) carrying CloseConn and
// Holds: the home node's read pump goes on when it arrives. Only the first call sends; the node
// calls it after Handler.Execute, which may call it earlier itself.
func (r *Request) Finish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return
	}
	r.done = true
	if r.reply == "" {
		return
	}
	n := r.n
	if r.resp != nil && headLen+11+len(r.resp) > int(n.nc.MaxPayload()) {
		r.resp, r.respLost = nil, true // the home node answers -32603 in its place
	}
	var flags byte
	if r.CloseConn || r.respClose {
		flags |= doneCloseConn
	}
	if r.resp != nil {
		flags |= doneHasResponse
	}
	if r.respLost {
		flags |= doneRespLost
	}
	msg := appendHead(make([]byte, 0, headLen+11+len(r.resp)), msgDone, n.id, n.epoch.Load())
	msg = append(msg, flags)
	msg = appendUvarint(msg, uint64(max(r.Holds, 0)))
	msg = append(msg, r.resp...)
	r.resp = nil
	if err := n.publish(r.reply, "", msg); err != nil {
		n.log.Debug("done not sent", "to", r.From.String(), "err", err)
	}
}

// serve queues one forwarded request on its connection's lane (lanes.go). Caller holds n.life
// shared; the lane releases it.
func (n *Node) serve(h head, body []byte, reply string) {
	conn, body, err := readUvarint(body)
	if err == nil {
		var groups uint64
		groups, body, err = readUvarint(body)
		if err == nil {
			r := &Request{From: h.from, Conn: conn, Groups: int(min(groups, 1<<30)), Frame: body, n: n, reply: reply}
			n.enqueue(laneKey{h.from, conn}, laneItem{r: r})
			return
		}
	}
	n.life.RUnlock()
	n.log.Warn("malformed request message", "from", h.from.String(), "err", err)
}
