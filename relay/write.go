package relay

import (
	"errors"
	"net"
	"time"

	"github.com/gorilla/websocket"
)

// writeLoop is the connection's writer: it writes the queued frames in batches — everything
// queued when it looks, in one syscall where the socket allows (socket.go) — until the queue
// is empty, and then ends. Once the connection is stopped it ends it as stopHow says and
// closes the socket; it alone closes it.
func (c *conn) writeLoop() {
	var spare []outFrame // the last batch's slice, reused for the next queue
	for {
		c.qmu.Lock()
		if c.stopped.Load() {
			how, rest := c.stopHow, c.queue
			c.queue, c.queued = nil, 0
			c.qmu.Unlock() // writing stays true: no writer starts again
			c.finish(how, rest)
			c.signalWrote()
			return
		}
		batch, ping := c.queue, c.pingDue
		if len(batch) == 0 && !ping {
			c.queue = nil // an idle connection holds no queue
			c.writing = false
			c.qmu.Unlock()
			return
		}
		c.queue, c.pingDue = spare, false
		c.qmu.Unlock()

		err := c.writeBatch(batch, ping)
		var n int64
		for i := range batch {
			n += int64(len(batch[i].data))
			if err == nil {
				batch[i].done()
			}
			batch[i] = outFrame{} // the frames' bytes may be freed
		}
		c.qmu.Lock()
		c.queued -= n
		c.qmu.Unlock()
		spare = batch[:0]
		c.signalWrote()
		if err != nil {
			c.writeFailed(err)
		}
	}
}

// writeBatch writes frames (and a ping) and counts them; the socket sends them together.
func (c *conn) writeBatch(frames []outFrame, ping bool) error {
	wait := c.srv.cfg.WriteWait
	c.sock.beginBatch()
	for i := range frames {
		// A deadline per frame, as a frame of MaxFrameBytes may take its time; the socket
		// applies the latest when it writes.
		_ = c.ws.SetWriteDeadline(time.Now().Add(wait))
		if err := c.ws.WriteMessage(websocket.TextMessage, frames[i].data); err != nil {
			_ = c.sock.endBatch()
			return err
		}
	}
	if ping {
		if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(wait)); err != nil {
			_ = c.sock.endBatch()
			return err
		}
	}
	if err := c.sock.endBatch(); err != nil {
		return err
	}
	for i := range frames {
		c.srv.metrics.frameOut(frames[i].kind, len(frames[i].data))
	}
	return nil
}

// writeFailed ends the connection after a failed write. A write that did not complete within
// WriteWait is what makes a client slow (§6.2, enqueue).
func (c *conn) writeFailed(err error) {
	if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
		if c.end(stopMode{}) {
			c.srv.metrics.slowDisconnects.Inc()
			c.log().Warn("dropping slow client: write timed out", "write_wait", c.srv.cfg.WriteWait)
		}
	} else {
		c.log().Debug("write failed", "err", err)
		c.end(stopMode{})
	}
	c.abort()
}

func (c *conn) signalWrote() {
	select {
	case c.wrote <- struct{}{}:
	default:
	}
}

// abort makes the coming close a reset: after a failed write (the peer stopped reading, or
// is gone) the relay must not leave megabytes of unsent frames in an orphaned kernel buffer.
func (c *conn) abort() {
	if tc := c.sock.tcp(); tc != nil {
		_ = tc.SetLinger(0)
	}
}

// finish ends the connection as how says — flush what was queued (drain), close frame, wait
// for the peer's close — and closes the socket.
func (c *conn) finish(how stopMode, queued []outFrame) {
	defer c.ws.Close()
	if how.code == 0 {
		return
	}
	wait := slowCloseWait
	if how.drain {
		wait = c.srv.cfg.DrainTimeout
		if err := c.writeBatch(queued, false); err != nil {
			c.abort()
			return
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
