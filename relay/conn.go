package relay

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Close codes the relay sends (RFC 6455 §7.4.1).
const (
	closeSlowClient = websocket.ClosePolicyViolation // 1008: its send queue reached its bound
	closeGroupFull  = websocket.ClosePolicyViolation // 1008: after the §4.2 close-connection error
	closeShutdown   = websocket.CloseGoingAway       // 1001: graceful shutdown
)

// slowCloseWait bounds the close frame to a client that stopped reading: its socket is
// likely full, and the writer must not hold its queue longer than that.
const slowCloseWait = time.Second

// outFrame is one queued outbound frame. Events to several receivers share its bytes: a
// frame is encoded once however many connections it goes to.
type outFrame struct {
	data    []byte
	kind    outKind
	recycle *[]byte // data's pooled buffer (responseBuffers), for a frame that has one receiver
	// closeConn: a §2.5 close-connection error (cluster mode carries the flag with it).
	closeConn bool
}

// done returns the frame's buffer to its pool once it was written.
func (f *outFrame) done() {
	if f.recycle != nil && cap(*f.recycle) <= maxRecycled {
		responseBuffers.Put(f.recycle)
	}
}

// conn is one WebSocket connection. Ownership follows gorilla's chat example: the read pump
// is the only reader and runs every request of the connection in order (§1.3); the writer is
// the only writer and sends the queued frames in the order they were queued, plus pings. The
// writer is a goroutine that runs only while there is something to write (or to close): an
// idle connection holds one goroutine (its read pump), no queue and no write buffer.
type conn struct {
	id   uint64 // the "client <n>" of §5 texts
	srv  *Server
	ws   *websocket.Conn
	sock *socket // under ws; nil in tests without a socket

	// The send queue (§6.2) and the writer's state, guarded by qmu.
	qmu     sync.Mutex
	queue   []outFrame // frames for the writer; nil when empty
	queued  int64      // bytes in queue
	writing bool       // a writer goroutine runs
	pingDue bool       // the ping timer fired: the writer sends a ping
	stopHow stopMode   // set when stopped is

	stopped  atomic.Bool   // the connection is ending: frames are no longer queued
	wrote    chan struct{} // signalled by the writer after each batch (capacity 1)
	readDone chan struct{}
	ping     *time.Timer

	// reqMu is held while a request runs. Shutdown sets halted, after which the connection
	// starts no more requests, and then takes reqMu to wait for the one in flight (waitIdle).
	reqMu  sync.Mutex
	halted atomic.Bool

	// groups this connection created or joined. Only the goroutine that runs the connection's
	// requests uses it (Group.create, Group.join and unregister run there: the read pump, or for
	// a connection of another node its lane, cluster_link.go), so it needs no lock; groups that
	// left the table meanwhile (gone) are pruned when it is counted.
	groups []*group

	// Cluster mode (cluster_link.go): remote is set on a conn that stands for a connection of
	// another node; elsewhere counts the groups the connection holds on other nodes.
	remote    *remoteLink
	elsewhere atomic.Int32 // set by the connection's requests, and by late dones (cluster_link.go)
}

// stopMode says how the writer ends the connection.
type stopMode struct {
	code  int    // close code; 0 = the peer is gone, send nothing
	text  string // close reason
	drain bool   // flush queued frames first and wait for the peer's close
}

func newConn(s *Server, ws *websocket.Conn, sock *socket, id uint64) *conn {
	c := &conn{
		id:       id,
		srv:      s,
		ws:       ws,
		sock:     sock,
		wrote:    make(chan struct{}, 1),
		readDone: make(chan struct{}),
	}
	if s.cfg.PingInterval > 0 {
		c.qmu.Lock() // the timer may fire before this assignment is seen otherwise
		c.ping = time.AfterFunc(s.cfg.PingInterval, c.pingTimer)
		c.qmu.Unlock()
	}
	return c
}

// discard stops a connection that was never served (the relay shut down during its upgrade):
// no writer starts for it.
func (c *conn) discard() {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	c.stopped.Store(true)
	if c.ping != nil {
		c.ping.Stop()
	}
}

func (c *conn) clientID() uint64 { return c.id }

// log is the connection's logger; built when something is logged, so that idle connections
// do not hold one.
func (c *conn) log() *slog.Logger {
	remote := ""
	if c.ws != nil {
		remote = c.ws.RemoteAddr().String()
	}
	return c.srv.log.With("conn", c.id, "remote", remote)
}

// atGroupLimit tells whether c already belongs to MaxGroupsPerConn groups.
func (c *conn) atGroupLimit() bool {
	limit := c.srv.cfg.MaxGroupsPerConn
	return limit > 0 && c.heldGroups()+int(c.elsewhere.Load()) >= limit
}

// heldGroups counts the groups of this relay c belongs to, after dropping the groups that left
// the table from its list.
func (c *conn) heldGroups() int {
	c.groups = slices.DeleteFunc(c.groups, func(g *group) bool { return g.gone.Load() })
	return len(c.groups)
}

// queueBytesPerFrameLimit sets the byte bound of a send queue: this many frames of the maximum
// size. Frames are shared between receivers, but each queue counts them in full.
const queueBytesPerFrameLimit = 4

// enqueue queues a frame without ever blocking, and starts the writer if none runs.
//
// The send queue's policy (§6.2). A client is slow when it does not drain what it is sent: a
// write to it does not complete within WriteWait (writeFailed), and it is dropped. How many
// frames wait is no measure of that: three senders fill one receiver's queue three times as
// fast as its socket drains, however fast the receiver reads. The queue's bounds, SendQueue
// frames and 4×MaxFrameBytes bytes, bound the memory one connection holds until its writes
// time out; past either the client is dropped all the same rather than allowed to stall the
// sender or grow memory. They are sized far above honest bursts (config.go).
func (c *conn) enqueue(f outFrame) {
	if c.remote != nil {
		c.remote.l.send(c, f) // cluster mode: a connection of another node
		return
	}
	if c.stopped.Load() {
		return
	}
	n := int64(len(f.data))
	c.qmu.Lock()
	if c.stopped.Load() {
		c.qmu.Unlock()
		return
	}
	if len(c.queue) >= c.srv.cfg.SendQueue || c.queued+n > queueBytesPerFrameLimit*c.srv.cfg.MaxFrameBytes {
		frames, bytes := len(c.queue), c.queued
		limit := "frames"
		if len(c.queue) < c.srv.cfg.SendQueue {
			limit = "bytes"
		}
		first := c.stopLocked(stopMode{code: closeSlowClient, text: "send queue full"})
		c.qmu.Unlock()
		if first {
			if c.sock != nil {
				c.sock.cut() // a write blocked on the client ends now; the writer then closes
			}
			c.srv.metrics.slowDisconnects.Inc()
			c.log().Warn("dropping slow client: send queue full", "limit", limit, "frames", frames, "bytes", bytes)
		}
		return
	}
	if c.queue == nil {
		c.queue = make([]outFrame, 0, 8) // a burst's frames without regrowing; freed when idle
	}
	c.queue = append(c.queue, f)
	c.queued += n
	c.startWriterLocked()
	c.qmu.Unlock()
}

// end asks the writer to close the connection; only the first call counts.
func (c *conn) end(how stopMode) bool {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	return c.stopLocked(how)
}

func (c *conn) stopLocked(how stopMode) bool {
	if c.stopped.Load() {
		return false
	}
	c.stopHow = how
	c.stopped.Store(true)
	if c.ping != nil {
		c.ping.Stop()
	}
	c.startWriterLocked()
	return true
}

// startWriterLocked starts the writer unless it runs. Caller holds qmu. The read pump of the
// connection is still counted in connWG whenever this runs (it stops the connection before
// it ends), so the writer's Add cannot race Shutdown's Wait.
func (c *conn) startWriterLocked() {
	if c.writing || c.ws == nil {
		return
	}
	c.writing = true
	c.srv.connWG.Add(1)
	go c.writer()
}

func (c *conn) writer() {
	defer c.srv.connWG.Done()
	c.writeLoop()
}

// pingTimer runs on the timer's goroutine every PingInterval: the writer sends the ping.
func (c *conn) pingTimer() {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if c.stopped.Load() {
		return
	}
	c.pingDue = true
	c.startWriterLocked()
	c.ping.Reset(c.srv.cfg.PingInterval)
}

// readPump reads frames until the connection fails or closes, then unregisters the connection.
func (c *conn) readPump() {
	cfg := &c.srv.cfg
	defer func() {
		close(c.readDone)
		c.srv.unregister(c)
		c.end(stopMode{}) // the peer is gone: the writer closes the socket
	}()
	c.ws.SetReadLimit(cfg.MaxFrameBytes)
	// The read deadline is PongWait after the last frame or pong. Moving it costs a timer
	// update in the runtime, so a busy connection moves it at most once per extendEvery: the
	// deadline then lies between 90% of PongWait and PongWait after the last frame.
	var armed time.Time
	every := min(extendEvery, cfg.PongWait/10)
	extend := func() {
		now := time.Now()
		if now.Sub(armed) < every {
			return
		}
		armed = now
		_ = c.ws.SetReadDeadline(now.Add(cfg.PongWait))
	}
	extend()
	c.ws.SetPongHandler(func(string) error { extend(); return nil })
	for {
		typ, data, err := c.readFrame()
		if err != nil {
			c.logReadEnd(err)
			return
		}
		extend()
		if c.stopped.Load() {
			releaseReadBuffer(data)
			continue // closing: read only to see the peer's close frame
		}
		if typ != websocket.TextMessage {
			c.srv.metrics.frameIn(labelBinary, data.Len()) // §1.2: ignored
			releaseReadBuffer(data)
			continue
		}
		c.waitForRoom()
		closeConn := c.run(data.Bytes())
		releaseReadBuffer(data)
		if closeConn {
			// §2.5: the close-connection error is queued; flush it, then close.
			c.srv.unregister(c)
			c.end(stopMode{code: closeGroupFull, text: "group full", drain: true})
		}
	}
}

// extendEvery bounds how often a busy connection's read deadline is moved (readPump); at
// most a tenth of PongWait.
const extendEvery = 100 * time.Millisecond

// run executes one request frame unless the relay is shutting down.
func (c *conn) run(frame []byte) (closeConn bool) {
	c.reqMu.Lock()
	defer c.reqMu.Unlock()
	if c.halted.Load() {
		return false
	}
	return c.srv.dispatch(c, frame)
}

// halt stops c from starting requests; the one it is running, if any, goes on (waitIdle).
func (c *conn) halt() { c.halted.Store(true) }

// waitIdle waits until c runs no request: the lock is taken only to wait for it.
func (c *conn) waitIdle() {
	c.reqMu.Lock()
	c.reqMu.Unlock()
}

// ownBacklog is the backlog of its own queue (frames) at which a client's requests wait: a
// wait costs only that client's pace, so it can come long before the queue's bound.
const ownBacklog = 128

// waitForRoom pauses a client's requests while its own queue holds ownBacklog frames (or half
// its bounds): a client that pipelines requests faster than its responses can be written is
// slowed down (TCP backpressure on its requests) instead of filling its own queue. The wait is
// outside any lock, and ends when the writer writes or the connection ends (a writer blocked for
// WriteWait ends it).
func (c *conn) waitForRoom() {
	limit := queueBytesPerFrameLimit * c.srv.cfg.MaxFrameBytes / 2
	frames := min(ownBacklog, c.srv.cfg.SendQueue/2)
	for {
		c.qmu.Lock()
		full := len(c.queue) >= frames && len(c.queue) > 0 || c.queued > limit
		c.qmu.Unlock()
		if !full || c.stopped.Load() {
			return
		}
		select {
		case <-c.wrote:
		case <-time.After(c.srv.cfg.WriteWait):
			// The writer ends the connection after WriteWait on a blocked write; look again.
		}
	}
}

// readBuffers recycles frame buffers between reads: decoding keeps no reference to a frame
// once it is dispatched (what a method keeps, it copies). Large buffers are not kept.
var readBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Up to 1 MiB: the buffers of large keygen rounds (ECDSA: ~180 KB broadcasts) are reused
// rather than grown anew for every frame; the pool, not the connections, holds them.
const maxPooledReadBuffer = 1 << 20

// readFrame reads the next message into a pooled buffer; release it with releaseReadBuffer.
func (c *conn) readFrame() (int, *bytes.Buffer, error) {
	typ, r, err := c.ws.NextReader()
	if err != nil {
		return 0, nil, err
	}
	buf := readBuffers.Get().(*bytes.Buffer)
	buf.Reset()
	if _, err := buf.ReadFrom(r); err != nil {
		releaseReadBuffer(buf)
		return 0, nil, err
	}
	return typ, buf, nil
}

func releaseReadBuffer(buf *bytes.Buffer) {
	if buf.Cap() <= maxPooledReadBuffer {
		readBuffers.Put(buf)
	}
}

func (c *conn) logReadEnd(err error) {
	var ce *websocket.CloseError
	switch {
	case errors.As(err, &ce):
		c.log().Debug("connection closed", "code", ce.Code, "reason", ce.Text)
	case errors.Is(err, websocket.ErrReadLimit):
		c.log().Warn("frame over the size limit, closing", "limit", c.srv.cfg.MaxFrameBytes)
	case c.stopped.Load() || errors.Is(err, net.ErrClosed):
		c.log().Debug("connection ended", "err", err)
	default:
		c.log().Info("connection lost", "err", err)
	}
}
