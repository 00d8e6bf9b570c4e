package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"

	"mpcrelay/relay/cluster"
	"mpcrelay/relay/protocol"
)

// Cluster mode (Config.Cluster.URL set): this relay is one node of a relay spanning several
// processes. relay/cluster moves bytes between nodes over NATS; this file says what they mean
// for the relay's state. The node that creates a group owns it (its id is in the group's uuid):
// a request naming another node's group is forwarded there (route), runs there against the
// group's state like any local request (Execute), and the frames it produces for connections
// on other nodes travel back over NATS (send, Deliver). The rest of the relay sees a connection
// of another node as a *conn whose remote field is set: a member like any other.

// Close codes of cluster mode (RFC 6455 §7.4.2, private use).
const (
	closeNodeLost = 4001 // a group of this connection lived on a relay node that is gone
	closeLinkLost = 4002 // this node lost the cluster while the connection was in another node's group
	// closeMissed: a frame for the connection was larger than NATS carries between nodes, so it
	// will never arrive. Not 1008 (the client broke no policy), 1009 (the relay received
	// nothing too big from it) nor 4001/4002 (the nodes and the link are fine).
	closeMissed = 4003
)

// remoteLink marks a *conn that stands for a connection of another node.
type remoteLink struct {
	l    *clusterLink
	node cluster.NodeID
	id   uint64 // the connection's id on its node
	// cur is the connection's request running here (its lane runs one at a time), until its
	// done is sent: a frame for the connection published meanwhile first flushes its response.
	cur atomic.Pointer[cluster.Request]
}

type remoteKey struct {
	node cluster.NodeID
	id   uint64
}

type clusterLink struct {
	s    *Server
	node *cluster.Node
	self cluster.NodeID

	mu sync.Mutex
	// Owner side: other nodes' connections that belong to groups of this node.
	remotes map[remoteKey]*conn
	// Home side: this node's connections that sent a request to another node, and what each
	// holds on each other node (for §6.1 notices and the loss of a node).
	locals   map[uint64]*conn
	memberOf map[*conn]map[cluster.NodeID]held
	pipes    map[*conn]*pipe // this node's connections' Session.messages on their way (cluster_pipeline.go)
	// Losses so far (dropNodes): of the link, and of each owner that requests are on their way
	// to (flights). A request on its way while one ran may have made its connection a member
	// there that the drop could not see (route).
	linkLosses uint64
	flights    map[cluster.NodeID]*flight

	afterForward atomic.Pointer[func()] // tests: runs when a forwarded request's wait ends
	slowDone     atomic.Pointer[func()] // tests: runs before the owner's done, its response sent ahead
}

// startCluster joins the cluster of s.cfg.Cluster.
func (s *Server) startCluster() error {
	cfg := s.cfg.Cluster
	cfg.Registerer = s.metrics.registry
	node, err := cluster.New(cfg)
	if err != nil {
		return err
	}
	l := &clusterLink{s: s, node: node, self: node.ID(), remotes: map[remoteKey]*conn{},
		locals: map[uint64]*conn{}, memberOf: map[*conn]map[cluster.NodeID]held{}, pipes: map[*conn]*pipe{},
		flights: map[cluster.NodeID]*flight{}}
	if err := node.Start(l); err != nil {
		return err
	}
	s.cl = l
	return nil
}

// newGroupID is a fresh group uuid naming this node as the owner.
func (l *clusterLink) newGroupID() uuid.UUID { return cluster.NewGroupID(l.self) }

// route forwards x to the node owning the group it names, if that is another node, and
// answers x from the owner's reply. It runs on the caller's read pump, which waits here, so the
// connection's next request runs only after this one's response and events were queued (§1.3);
// the one exception, a Session.message to the owner of the connection's previous requests, goes
// out at once behind them (cluster_pipeline.go).
func (l *clusterLink) route(x *call, frame []byte) (forwarded, closeConn bool) {
	gid, ok := requestGroup(&x.req)
	owner := cluster.OwnerOf(gid)
	c := x.c
	if !ok || owner == l.self {
		l.drain(c) // a local request runs after the forwarded ones before it
		return false, false
	}
	l.mu.Lock()
	l.locals[c.id] = c
	l.mu.Unlock()
	if l.pipeline(x, gid, owner, frame) {
		return true, false
	}
	l.mu.Lock()
	before := l.takeOff(owner)
	l.mu.Unlock()
	res, err := l.node.Forward(context.Background(), owner, c.id, l.groupsElsewhere(c, owner), frame)
	if f := l.afterForward.Load(); f != nil {
		(*f)()
	}
	if err != nil && !res.Responded {
		l.mu.Lock()
		l.land(owner)
		if errors.Is(err, cluster.ErrTimeout) {
			l.doneMissing(c, owner, res.Seq, false, false) // the owner may still run it
		}
		l.mu.Unlock()
		x.fail(forwardError(gid, owner, err, l.s.cfg.WriteWait.String()))
		return true, x.closeConn
	}
	if err == nil && res.ResponseLost && !res.Responded {
		// The owner ran it, but NATS could not carry its response here: answer in its place.
		x.fail(clusterError(fmt.Sprintf("group %s is on relay node %s, and its response is larger than the cluster's NATS max_payload", gid, owner)))
	}
	x.answered = true
	// Without its done, a join the owner refused did nothing: its caller was told it failed,
	// as for a request answered by no one.
	join := x.req.Method == protocol.MethodGroupJoin
	refused := err != nil && join && responseFailed(res.Response)
	l.mu.Lock()
	if err != nil {
		// Answered, but the done did not come: c may hold a group there now (a Group.join),
		// until a done from owner says what it holds (§6.1).
		l.doneMissing(c, owner, res.Seq, !refused, join && !refused)
	}
	if now := l.land(owner); now != before && (err != nil && !refused || res.Holds > 0) && !l.stillHeld(now, before, owner, res) {
		// The client has its answer, and the link or the owner was lost meanwhile: the
		// request made c a member of a group there (or may have: its done did not come),
		// which the drop did not know of and which is out of reach now. c is closed as the
		// drop closes the members it knew (§6.1 across nodes). The owner is told when c
		// closes: an owner that only restarted ran it in its new life, and keeps c otherwise.
		if err == nil { // (without its done, doneMissing booked it)
			l.book(c, owner, res)
		}
		l.mu.Unlock()
		if now.link != before.link {
			l.closeGone(c, closeLinkLost, linkLostText)
		} else {
			l.closeGone(c, closeNodeLost, nodeLostText(owner))
		}
		return true, false
	}
	if err != nil {
		l.mu.Unlock()
		c.log().Warn("cluster request incomplete after its response", "group", gid, "node", owner.String(), "err", err)
		return true, res.CloseConn
	}
	l.book(c, owner, res)
	l.mu.Unlock()
	return true, res.CloseConn
}

// forwardError is the -32603 a caller gets when its group's node cannot run the request.
func forwardError(gid uuid.UUID, owner cluster.NodeID, err error, wait string) *protocol.Error {
	switch {
	case errors.Is(err, cluster.ErrNoOwner):
		return protocol.ErrGroupNotFound(gid) // no node has it: the original's text
	case errors.Is(err, cluster.ErrOwnerRestarted):
		return clusterError(fmt.Sprintf("group %s is on relay node %s, which restarted its cluster link while running this request", gid, owner))
	case errors.Is(err, cluster.ErrOwnerLost):
		return clusterError(fmt.Sprintf("group %s is gone: relay node %s that held it left the cluster", gid, owner))
	case errors.Is(err, cluster.ErrOwnerUnreachable):
		return clusterError(fmt.Sprintf("group %s is on relay node %s, which NATS cannot reach now", gid, owner))
	case errors.Is(err, cluster.ErrLinkDown):
		return clusterError(fmt.Sprintf("group %s is on relay node %s, and this relay node has no NATS connection", gid, owner))
	case errors.Is(err, cluster.ErrTimeout):
		return clusterError(fmt.Sprintf("group %s is on relay node %s, which did not answer within %s", gid, owner, wait))
	case errors.Is(err, cluster.ErrBacklog):
		return clusterError(fmt.Sprintf("group %s is on relay node %s: %v", gid, owner, err))
	case errors.Is(err, cluster.ErrTooLarge):
		return clusterError(fmt.Sprintf("group %s is on relay node %s, and NATS cannot carry this request there: %v", gid, owner, err))
	}
	return clusterError(fmt.Sprintf("group %s on relay node %s: %v", gid, owner, err))
}

// responseFailed tells whether frame, a response from another node, is an error (§2.3).
func responseFailed(frame []byte) bool {
	var r struct {
		Error json.RawMessage `json:"error"`
	}
	return json.Unmarshal(frame, &r) == nil && len(r.Error) > 0 && string(r.Error) != "null"
}

// clusterError is a -32603 of cluster mode (not a rule of the original, so no §5 text).
func clusterError(msg string) *protocol.Error {
	return &protocol.Error{Code: protocol.CodeInternal, Message: msg}
}

// requestGroup is the group a decoded request names. Group.create and requests whose params
// do not decode stay local (the local method answers them, with -32602 where due).
func requestGroup(req *protocol.Call) (uuid.UUID, bool) {
	if req.ParamsErr != nil {
		return uuid.UUID{}, false
	}
	p := &req.Params
	switch req.Method {
	case protocol.MethodGroupJoin:
		return p.GroupJoin.GroupID, true
	case protocol.MethodSessionCreate:
		return p.SessionCreate.GroupID, true
	case protocol.MethodSessionJoin, protocol.MethodSessionSignup:
		return p.Session.GroupID, true
	case protocol.MethodSessionLoad:
		return p.SessionLoad.GroupID, true
	case protocol.MethodSessionMessage:
		return p.SessionMessage.GroupID, true
	case protocol.MethodSessionFinish:
		return p.SessionFinish.GroupID, true
	case protocol.MethodNotifyProposal:
		return p.NotifyProposal.GroupID, true
	case protocol.MethodNotifySigned:
		return p.NotifySigned.GroupID, true
	}
	return uuid.UUID{}, false
}

// send is enqueue for a connection of another node. Its response (the only frame queued on it
// other than through deliver) is held by its running request, to travel with the done.
func (l *clusterLink) send(c *conn, f outFrame) {
	rl := c.remote
	if r := rl.cur.Load(); r != nil && (f.kind == outResponse || f.kind == outError) {
		if f.closeConn {
			r.RespondCloseConn(f.data) // §2.5 even if the done comes too late
		} else {
			r.Respond(f.data)
		}
		return
	}
	l.publish(rl.node, []*conn{c}, f.data)
}

// deliver is the cluster's fan-out of one event frame (call.deliver), run while the group's
// lock is held: local receivers get it queued, and each other node gets it ONCE, with the list
// of its receiving connections in order, to hand out there (Deliver). Frames of one group thus
// reach every node in the order of the group's state, each receiver's exactly once.
func (l *clusterLink) deliver(f outFrame, to []member) {
	var buf [8]*conn
	remote := buf[:0]
	for _, m := range to {
		if c, ok := m.(*conn); ok && c.remote != nil {
			remote = append(remote, c)
			continue
		}
		m.enqueue(f)
	}
	for i, c := range remote {
		node := c.remote.node
		if slices.ContainsFunc(remote[:i], func(o *conn) bool { return o.remote.node == node }) {
			continue // its node got the frame with an earlier receiver's
		}
		var sbuf [8]*conn
		same := sbuf[:0]
		for _, o := range remote[i:] {
			if o.remote.node == node {
				same = append(same, o)
			}
		}
		l.publish(node, same, f.data)
	}
}

// publish sends frame to connections of node in one message, after the held response of any
// of them whose request is running here (§1.3: a response before every later frame).
func (l *clusterLink) publish(node cluster.NodeID, to []*conn, frame []byte) {
	var ibuf [8]uint64
	ids := ibuf[:0]
	for _, c := range to {
		if r := c.remote.cur.Load(); r != nil {
			if err := r.Flush(); err != nil {
				c.log().Debug("response for another node not sent", "err", err)
			}
		}
		ids = append(ids, c.remote.id)
	}
	if err := l.node.Deliver(node, ids, frame); err != nil {
		if errors.Is(err, cluster.ErrTooLarge) {
			// Their node closes them (Missed): NATS needs a larger max_payload.
			l.s.log.Error("frame for another node not sent: its receivers there are closed", "node", node.String(), "receivers", len(ids), "err", err)
			return
		}
		// The link is down: LinkLost ends every cross-node membership, these included.
		l.s.log.Debug("frame for another node not sent", "node", node.String(), "err", err)
	}
}

// Execute runs a request of another node's connection on this node (cluster.Handler), on the
// connection's lane: no other request of the connection runs meanwhile.
func (l *clusterLink) Execute(r *cluster.Request) {
	c := l.remoteConn(r.From, r.Conn)
	c.elsewhere.Store(int32(min(r.Groups, 1<<30)))
	c.remote.cur.Store(r)
	closeConn := l.s.dispatch(c, r.Frame)
	if closeConn {
		l.s.unregister(c) // §2.5: its node closes the connection
	}
	r.CloseConn = closeConn
	r.Holds = c.heldGroups()
	if f := l.slowDone.Load(); f != nil {
		_ = r.Flush() // as a frame for c published now would
		(*f)()
	}
	r.Finish() // the done, with the response unless a frame for c already flushed it
	c.remote.cur.Store(nil)
	if r.Holds == 0 {
		l.mu.Lock()
		delete(l.remotes, remoteKey{r.From, r.Conn})
		l.mu.Unlock()
	}
}

func (l *clusterLink) remoteConn(node cluster.NodeID, id uint64) *conn {
	k := remoteKey{node, id}
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.remotes[k]
	if c == nil {
		c = &conn{id: id, srv: l.s, wrote: make(chan struct{}, 1), readDone: make(chan struct{}),
			remote: &remoteLink{l: l, node: node, id: id}}
		l.remotes[k] = c
	}
	return c
}

// Deliver hands frames from an owner to this node's connections (cluster.Handler).
func (l *clusterLink) Deliver(conns []uint64, frame []byte) {
	f := outFrame{data: frame, kind: frameKind(frame)}
	to := make([]*conn, 0, len(conns))
	l.mu.Lock()
	for _, id := range conns {
		if c := l.locals[id]; c != nil {
			to = append(to, c)
		}
	}
	l.mu.Unlock()
	for _, c := range to {
		c.enqueue(f)
	}
}

// Missed: a frame of another node for conns could not cross NATS (cluster.Handler). One relay
// never keeps a member that misses an event (§3.6, §4.7), and a member leaves its groups only
// when its connection closes (§6.1): they are closed, after the frames queued before it.
func (l *clusterLink) Missed(conns []uint64, reason string) {
	l.mu.Lock()
	to := make([]*conn, 0, len(conns))
	for _, id := range conns {
		if c := l.locals[id]; c != nil {
			to = append(to, c)
		}
	}
	l.mu.Unlock()
	for _, c := range to {
		if c.end(stopMode{code: closeMissed, text: reason, drain: true}) {
			c.log().Warn("closing connection: a frame for it from another relay node is larger than NATS carries", "reason", reason)
		}
	}
}

// frameKind classifies a frame from another node for the frames-out metrics.
func frameKind(frame []byte) outKind {
	const eventHead = `{"jsonrpc":"2.0","id":0,"result":["`
	if len(frame) > len(eventHead) && string(frame[:len(eventHead)]) == eventHead {
		rest := frame[len(eventHead):]
		for i, b := range rest {
			if b == '"' {
				return outEvent(string(rest[:i]))
			}
		}
	}
	for i := 0; i+9 < len(frame) && i < 64; i++ {
		if string(frame[i:i+9]) == `"error":{` {
			return outError
		}
	}
	return outResponse
}

// ConnClosed: a connection of another node closed; it leaves this node's groups (§6.1).
func (l *clusterLink) ConnClosed(from cluster.NodeID, id uint64) {
	k := remoteKey{from, id}
	l.mu.Lock()
	c := l.remotes[k]
	delete(l.remotes, k)
	l.mu.Unlock()
	if c != nil {
		l.s.unregister(c)
	}
}

// NodeLost: node is gone. Its connections leave this node's groups (§6.1), and this node's
// connections that were in its groups are closed: those groups are gone with it.
func (l *clusterLink) NodeLost(node cluster.NodeID, reason string) {
	l.mu.Lock()
	if f := l.flights[node]; f != nil {
		f.losses++ // before the drop looks at the memberships (route)
	}
	l.mu.Unlock()
	l.dropNodes(func(n cluster.NodeID) bool { return n == node }, closeNodeLost, nodeLostText(node))
}

// LinkLost: this node lost the cluster; every cross-node membership ends, both ways.
func (l *clusterLink) LinkLost(reason string) {
	l.mu.Lock()
	l.linkLosses++
	l.mu.Unlock()
	l.dropNodes(func(cluster.NodeID) bool { return true }, closeLinkLost, linkLostText)
}

const linkLostText = "this relay node lost its cluster link; groups on other nodes are unreachable"

func nodeLostText(node cluster.NodeID) string {
	return fmt.Sprintf("relay node %s holding a group of this connection is gone", node)
}

func (l *clusterLink) dropNodes(match func(cluster.NodeID) bool, code int, text string) {
	var leave, close []*conn
	l.mu.Lock()
	for k, c := range l.remotes {
		if match(k.node) {
			leave = append(leave, c)
			delete(l.remotes, k)
		}
	}
	for c, m := range l.memberOf {
		lost := false
		for n, h := range m {
			if match(n) {
				// Not for a request that timed out unanswered (its caller was told it failed),
				// unless a late done said it made c a member there.
				lost = lost || h.n > 0 || h.maybe
				delete(m, n)
			}
		}
		if lost {
			close = append(close, c)
		}
	}
	l.mu.Unlock()
	for _, c := range leave {
		l.s.unregister(c)
	}
	for _, c := range close {
		l.closeGone(c, code, text)
	}
}

// closeGone closes c, whose group on another node is out of reach, after its queued frames.
func (l *clusterLink) closeGone(c *conn, code int, text string) {
	if c.end(stopMode{code: code, text: text, drain: true}) {
		c.log().Warn("closing connection: its cross-node group is gone", "reason", text)
	}
}

// closed runs when one of this node's connections closes: the owners of its other groups are
// told, so it leaves them too (§6.1), and so are owners that may still run a request of it
// given up on (one sent before this node heard of its owner's restart books nothing here).
func (l *clusterLink) closed(c *conn) {
	l.drain(c) // its requests on their way end first (bounded by the write wait)
	l.mu.Lock()
	delete(l.pipes, c)
	m := l.memberOf[c]
	delete(l.memberOf, c)
	delete(l.locals, c.id)
	l.mu.Unlock()
	owners := slices.Collect(maps.Keys(m))
	for _, owner := range l.node.AwaitingDones(c.id) {
		if _, ok := m[owner]; !ok {
			owners = append(owners, owner)
		}
	}
	for _, owner := range owners {
		if err := l.node.ConnClosed(owner, c.id); err != nil {
			c.log().Debug("closed notice not sent", "node", owner.String(), "err", err)
		}
	}
}

// close leaves the cluster (the other nodes drop this node's connections at once).
func (l *clusterLink) close() { l.node.Close() }

// serveHealth answers /healthz in cluster mode: 503 while NATS is unreachable, so a load
// balancer sends clients to nodes that can reach every group.
func (l *clusterLink) serveHealth(w http.ResponseWriter) {
	st := l.node.Status()
	name := l.s.cfg.Cluster.Name
	if !st.Connected {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "cluster %s node %s: NATS unreachable (reconnecting); groups on other nodes cannot be reached\n", name, l.self)
		return
	}
	fmt.Fprintf(w, "ok\ncluster %s node %s: NATS connected (%s), %d other nodes\n", name, l.self, st.URL, len(st.Peers))
}
