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
	closeSlowClient = websocket.ClosePolicyViolation // 1008: its send queue filled up
	closeGroupFull  = websocket.ClosePolicyViolation // 1008: after the §4.2 close-connection error
	closeShutdown   = websocket.CloseGoingAway       // 1001: graceful shutdown
)

// slowCloseWait bounds the close frame to a client that stopped reading: its socket is
// likely full, and the writer must not hold its queue longer than that.
const slowCloseWait = time.Second

// outFrame is one queued outbound frame. Events to several receivers share one outFrame.
type outFrame struct {
	data []byte
	kind outKind
}

// conn is one WebSocket connection. Ownership follows gorilla's chat example: readPump (run on
// the HTTP handler's goroutine) is the only reader and runs every request of the connection in
// order (§1.3); writePump is the only writer and sends the frames of the bounded send queue in
// the order they were queued, plus pings.
type conn struct {
	id  uint64 // the "client <n>" of §5 texts
	srv *Server
	ws  *websocket.Conn
	log *slog.Logger

	send     chan *outFrame
	wrote    chan struct{} // signalled by writePump after each write (capacity 1)
	queued   atomic.Int64  // bytes in send
	stop     chan struct{} // closed once when the connection is to end
	stopOnce sync.Once
	stopped  atomic.Bool
	stopHow  stopMode // written before stop is closed
	readDone chan struct{}

	// reqMu is held while a request runs; Shutdown takes it to wait for that request and sets
	// halted, after which the connection runs no more requests.
	reqMu  sync.Mutex
	halted bool

	// groups this connection created or joined. Only the read pump uses it (Group.create,
	// Group.join and unregister run there), so it needs no lock; groups that left the table
	// meanwhile (gone) are pruned when it is counted.
	groups []*group
}

// stopMode says how writePump ends the connection.
type stopMode struct {
	code  int    // close code; 0 = the peer is gone, send nothing
	text  string // close reason
	drain bool   // flush queued frames first and wait for the peer's close
}

func newConn(s *Server, ws *websocket.Conn, id uint64) *conn {
	return &conn{
		id:       id,
		srv:      s,
		ws:       ws,
		log:      s.log.With("conn", id, "remote", ws.RemoteAddr().String()),
		send:     make(chan *outFrame, s.cfg.SendQueue),
		wrote:    make(chan struct{}, 1),
		stop:     make(chan struct{}),
		readDone: make(chan struct{}),
	}
}

func (c *conn) clientID() uint64 { return c.id }

// atGroupLimit tells whether c already belongs to MaxGroupsPerConn groups, after dropping the
// groups that left the table from its list.
func (c *conn) atGroupLimit() bool {
	c.groups = slices.DeleteFunc(c.groups, func(g *group) bool { return g.gone.Load() })
	limit := c.srv.cfg.MaxGroupsPerConn
	return limit > 0 && len(c.groups) >= limit
}

// queueBytesPerFrameLimit sets the byte bound of a send queue: this many frames of the maximum
// size. Frames are shared between receivers, but each queue counts them in full.
const queueBytesPerFrameLimit = 4

// enqueue queues a frame without ever blocking: a full queue (SendQueue frames, or
// 4×MaxFrameBytes bytes) means the client stopped reading, and it is dropped rather than
// allowed to stall the sender or grow memory (§6.2).
func (c *conn) enqueue(f *outFrame) {
	if c.stopped.Load() {
		return
	}
	n := int64(len(f.data))
	if c.queued.Add(n) > queueBytesPerFrameLimit*c.srv.cfg.MaxFrameBytes {
		c.queued.Add(-n)
		c.dropSlow("bytes")
		return
	}
	select {
	case c.send <- f:
	default:
		c.queued.Add(-n)
		c.dropSlow("frames")
	}
}

func (c *conn) dropSlow(limit string) {
	if c.end(stopMode{code: closeSlowClient, text: "send queue full"}) {
		c.srv.metrics.slowDisconnects.Inc()
		c.log.Warn("dropping slow client: send queue full", "limit", limit,
			"frames", len(c.send), "bytes", c.queued.Load())
	}
}

// end asks writePump to close the connection; only the first call counts.
func (c *conn) end(how stopMode) bool {
	first := false
	c.stopOnce.Do(func() {
		first = true
		c.stopHow = how
		c.stopped.Store(true)
		close(c.stop)
	})
	return first
}

// readPump reads frames until the connection fails or closes, then unregisters the connection.
func (c *conn) readPump() {
	cfg := &c.srv.cfg
	defer func() {
		close(c.readDone)
		c.srv.unregister(c)
		c.end(stopMode{}) // the peer is gone: writePump closes the socket
	}()
	c.ws.SetReadLimit(cfg.MaxFrameBytes)
	extend := func() { _ = c.ws.SetReadDeadline(time.Now().Add(cfg.PongWait)) }
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

// run executes one request frame unless the relay is shutting down.
func (c *conn) run(frame []byte) (closeConn bool) {
	c.reqMu.Lock()
	defer c.reqMu.Unlock()
	if c.halted {
		return false
	}
	return c.srv.dispatch(c, frame)
}

// halt waits for the request c is running, if any, and stops it from running more.
func (c *conn) halt() {
	c.reqMu.Lock()
	c.halted = true
	c.reqMu.Unlock()
}

// waitForRoom pauses a client's requests while its own queue is half full: a client that
// pipelines requests faster than its responses can be written is slowed down (TCP backpressure
// on its requests) instead of being dropped for filling its own queue. Only frames from other
// connections can then fill it, which is the slow-reader case of §6.2. The wait is outside any
// lock, and ends when the writer writes or the connection ends (a writer blocked for WriteWait
// ends it).
func (c *conn) waitForRoom() {
	limit := queueBytesPerFrameLimit * c.srv.cfg.MaxFrameBytes / 2
	for len(c.send) >= cap(c.send)/2 && len(c.send) > 0 || c.queued.Load() > limit {
		select {
		case <-c.wrote:
		case <-c.stop:
			return
		}
	}
}

// readBuffers recycles frame buffers between reads: decoding copies what it keeps, so a
// frame's bytes are free once dispatched. Large buffers are not kept.
var readBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledReadBuffer = 64 << 10

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
		c.log.Debug("connection closed", "code", ce.Code, "reason", ce.Text)
	case errors.Is(err, websocket.ErrReadLimit):
		c.log.Warn("frame over the size limit, closing", "limit", c.srv.cfg.MaxFrameBytes)
	case c.stopped.Load() || errors.Is(err, net.ErrClosed):
		c.log.Debug("connection ended", "err", err)
	default:
		c.log.Info("connection lost", "err", err)
	}
}

// writePump writes queued frames and pings until the connection ends; it alone closes the socket.
func (c *conn) writePump() {
	cfg := &c.srv.cfg
	defer c.ws.Close()
	var ping <-chan time.Time
	if cfg.PingInterval > 0 {
		t := time.NewTicker(cfg.PingInterval)
		defer t.Stop()
		ping = t.C
	}
	for {
		select {
		case f := <-c.send:
			if err := c.write(f); err != nil {
				if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
					// Not reading for WriteWait is the other face of a full queue (§6.2).
					if c.end(stopMode{}) {
						c.srv.metrics.slowDisconnects.Inc()
						c.log.Warn("dropping slow client: write timed out", "write_wait", c.srv.cfg.WriteWait)
					}
				} else {
					c.log.Debug("write failed", "err", err)
					c.end(stopMode{})
				}
				c.abort()
				return
			}
		case <-ping:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(cfg.WriteWait)); err != nil {
				c.log.Debug("ping failed", "err", err)
				c.end(stopMode{})
				return
			}
		case <-c.stop:
			c.finish()
			return
		}
	}
}

// abort makes the coming close a reset: after a failed write (the peer stopped reading, or
// is gone) the relay must not leave megabytes of unsent frames in an orphaned kernel buffer.
func (c *conn) abort() {
	if tc, ok := c.ws.NetConn().(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
}

func (c *conn) write(f *outFrame) error {
	c.queued.Add(-int64(len(f.data)))
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteWait))
	err := c.ws.WriteMessage(websocket.TextMessage, f.data)
	select {
	case c.wrote <- struct{}{}:
	default:
	}
	if err != nil {
		return err
	}
	c.srv.metrics.frameOut(f.kind, len(f.data))
	return nil
}

// finish ends the connection as stopHow says: flush, close frame, wait for the peer's close.
func (c *conn) finish() {
	how := c.stopHow
	if how.code == 0 {
		return
	}
	wait := slowCloseWait
	if how.drain {
		wait = c.srv.cfg.DrainTimeout
		for flushing := true; flushing; {
			select {
			case f := <-c.send:
				if err := c.write(f); err != nil {
					return
				}
			default:
				flushing = false
			}
		}
	}
	msg := websocket.FormatCloseMessage(how.code, how.text)
	if err := c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(min(wait, c.srv.cfg.WriteWait))); err != nil {
		c.abort()
		return
	}
	if how.drain {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-c.readDone:
		case <-t.C:
		}
	}
}
