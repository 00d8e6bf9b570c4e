package cluster

import "sync"

// Request is a request of another node's connection, run on this node, the owner of its group.
// The handler answers through Respond and sends the events it triggers through Deliver, during
// Handler.Execute; then it sets CloseConn and Holds. Respond and Deliver may be called from
// several goroutines (the request's own, and others delivering to the caller's node meanwhile).
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
}

// Respond sets the response to the caller. It is sent before any frame this request delivers to
// the caller's node (§1.3), or with the done message.
func (r *Request) Respond(frame []byte) {
	r.mu.Lock()
	r.resp = frame
	r.mu.Unlock()
}

// Deliver sends frame to the connections conns of node, after the response if node is the
// caller's.
func (r *Request) Deliver(node NodeID, conns []uint64, frame []byte) error {
	if node == r.From {
		// Hold mu across both publishes: a frame for the caller's node never passes the response.
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.resp != nil {
			msg := appendHead(make([]byte, 0, headLen+len(r.resp)), msgResponse, r.n.id, r.n.epoch.Load())
			msg = append(msg, r.resp...)
			r.resp = nil
			if err := r.n.publish(r.reply, "", msg); err != nil {
				return err
			}
		}
	}
	return r.n.Deliver(node, conns, frame)
}

// serve runs one forwarded request and sends its done. Caller holds n.life shared.
func (n *Node) serve(h head, body []byte, reply string) {
	conn, body, err := readUvarint(body)
	if err == nil {
		var groups uint64
		groups, body, err = readUvarint(body)
		if err == nil {
			r := &Request{From: h.from, Conn: conn, Groups: int(min(groups, 1<<30)), Frame: body, n: n, reply: reply}
			n.m.served.Inc()
			n.h.Execute(r)
			n.sendDone(r)
			return
		}
	}
	n.log.Warn("malformed request message", "from", h.from.String(), "err", err)
}

func (n *Node) sendDone(r *Request) {
	if r.reply == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var flags byte
	if r.CloseConn {
		flags |= doneCloseConn
	}
	if r.resp != nil {
		flags |= doneHasResponse
	}
	msg := appendHead(make([]byte, 0, headLen+11+len(r.resp)), msgDone, n.id, n.epoch.Load())
	msg = append(msg, flags)
	msg = appendUvarint(msg, uint64(max(r.Holds, 0)))
	msg = append(msg, r.resp...)
	if err := n.publish(r.reply, "", msg); err != nil {
		n.log.Debug("done not sent", "to", r.From.String(), "err", err)
	}
}
