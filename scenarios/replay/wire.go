package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// wire is the generator's own connection. Its frames are read by a poller (poll_linux.go):
// a few goroutines, each waiting on one epoll set for many connections, read every readable
// connection once and handle its frames in place (no goroutine per connection, no queues, no
// hand-offs); senders write under a mutex, a party's frames that are due together in one
// write; a call's reply goes to the answers it was written with (calls.go). The SDK's client
// is built for correctness over speed (every frame is decoded, events fan out through
// subscription queues); a load generator must be much cheaper than what it measures, so it
// speaks the few requests it needs itself.
type wire struct {
	nc net.Conn
	// sock is nc's socket once a poller reads it: taken out of the runtime's poller, read and
	// written with raw system calls (rawio_linux.go); nil for connections read by a goroutine
	// of their own, which use nc.
	sock   atomic.Pointer[rawSocket]
	wmu    sync.Mutex
	nextID atomic.Uint64
	// deadlineAt is when the write deadline was last moved (under wmu): it is moved at most
	// once a second, not per frame (each move re-arms a runtime timer).
	deadlineAt time.Time

	mu      sync.Mutex
	pending map[uint64]slot
	err     error

	// Read state, owned by the connection's poller (or its reader goroutine), which holds
	// readMu while it reads and hands frames on: stop, giving up on the peer's close reply,
	// takes it before ending the connection, so that no frame is handled once stop returns.
	readMu  sync.Mutex
	in      inbox
	at      time.Time // when the bytes being taken apart were read
	onFrame func(frame []byte, e *envelope, at time.Time)
	handle  frameHandler // w.frame, bound once
	env     envelope     // the frame being handed on (dispatch)

	stopping atomic.Bool
	endOnce  sync.Once
	ended    chan struct{} // closed when the connection is over and its socket closed
	unwatch  func()        // takes the connection off its poller
	// wakes is its poller's (nil for a reader goroutine of its own): the wake-ups its frames
	// bring are given at the end of the poller's harvest.
	wakes *wakeups
}

const (
	writeWait    = 10 * time.Second // one frame write; loopback writes take microseconds
	closeGrace   = time.Second      // how long stop waits for the peer's close reply
	readLimit    = 64 << 20         // above any relay's frame limit
	maxPooledOut = 1 << 20          // frame buffers above this are not kept for reuse
)

var dialer = ws.Dialer{Timeout: 10 * time.Second}

// dialWire connects to rawURL (with room as the forwarder's query parameter when not empty)
// and has its frames read: onFrame gets every text frame that is not the response to a call.
// onFrame must not keep frame or the envelope: both are reused.
func dialWire(ctx context.Context, rawURL, room string, onFrame func(frame []byte, e *envelope, at time.Time)) (*wire, error) {
	target := rawURL
	if room != "" {
		u, err := url.Parse(rawURL)
		if err != nil {
			return nil, err
		}
		q := u.Query()
		q.Set("room", room)
		u.RawQuery = q.Encode()
		target = u.String()
	}
	nc, br, _, err := dialer.Dial(ctx, target)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", target, err)
	}
	w := &wire{nc: nc, pending: map[uint64]slot{}, ended: make(chan struct{}), onFrame: onFrame}
	w.handle = w.frame
	if br != nil {
		// Frames the server sent right after the handshake, read with it.
		early := make([]byte, br.Buffered())
		_, _ = io.ReadFull(br, early)
		ws.PutReader(br)
		if err := w.take(early, time.Now()); err != nil {
			if err == errServerClosed {
				<-w.ended // the echo, then the end with the server's code and reason
				err = w.err
			} else {
				w.end(err)
			}
			return nil, fmt.Errorf("dial %s: %w", target, err)
		}
	}
	watch(w)
	return w, nil
}

// readBuf is where the next read goes: the free end of an incomplete frame's buffer (a large
// frame is read straight into its own buffer), else spare.
func (w *wire) readBuf(spare []byte) []byte {
	if w.in.part != nil {
		return w.in.space()
	}
	return spare
}

// took takes apart the n bytes a read brought into readBuf(spare). With an incomplete frame
// they are in its buffer, and n may exceed len(spare): spare is not sliced then.
func (w *wire) took(spare []byte, n int, at time.Time) error {
	if w.in.part != nil {
		*w.in.part = (*w.in.part)[:len(*w.in.part)+n]
		return w.take(*w.in.part, at)
	}
	return w.take(spare[:n], at)
}

// take takes apart data, the bytes a read brought (after what an incomplete frame kept), and
// keeps what is left of an incomplete frame.
func (w *wire) take(data []byte, at time.Time) error {
	w.at = at
	used, err := w.in.feed(data, w.handle)
	if err != nil {
		return err
	}
	w.in.keep(data[used:])
	return nil
}

// frame handles one complete frame (called by inbox.feed).
func (w *wire) frame(op ws.OpCode, payload []byte) error {
	switch op {
	case ws.OpText:
		w.dispatch(payload, w.at)
	case ws.OpPing:
		// Answered off the poller, which must never wait on a socket's write.
		p := append([]byte(nil), payload...)
		go func() { _ = w.writeControl(ws.OpPong, p) }()
	case ws.OpClose:
		if w.stopping.Load() {
			return errClosed
		}
		code, reason := ws.ParseCloseFrameData(payload)
		cause := fmt.Errorf("closed by the server: %d %s", code, reason)
		echo := append([]byte(nil), payload[:min(len(payload), 2)]...)
		// Echoed with its status code (§5.5.1) off the reader, which must never wait on a
		// socket's write (a sender may hold the write lock, blocked on a server that stopped
		// reading); the connection ends once the echo is written.
		go func() {
			_ = w.writeControl(ws.OpClose, echo)
			w.end(cause)
		}()
		return errServerClosed
	}
	return nil // binary frames and pongs are not part of the protocol (§1.2): ignored
}

var (
	// errClosed is the end of a connection the generator closed itself.
	errClosed = errors.New("closed")
	// errServerClosed: the server closed the connection; its reader stops reading it, and the
	// echo, then the end, are on their way (frame).
	errServerClosed = errors.New("closed by the server")
)

// end closes the connection once, with cause: calls still waiting get it, the socket is
// closed, ended is closed.
func (w *wire) end(cause error) {
	w.endOnce.Do(func() {
		w.mu.Lock()
		w.err = cause
		pending := w.pending
		w.pending = nil
		w.mu.Unlock()
		for _, sl := range pending {
			sl.a.put(sl.i, reply{err: fmt.Errorf("connection ended: %w", cause)}, nil)
		}
		if w.unwatch != nil {
			w.unwatch()
		}
		if sock := w.sock.Load(); sock != nil {
			_ = sock.close()
		}
		_ = w.nc.Close()
		close(w.ended)
	})
}

// dispatch routes a text frame: the response to a waiting call, or onFrame.
func (w *wire) dispatch(frame []byte, at time.Time) {
	// The envelope handed on is the wire's own (onFrame must not keep it): a fresh one would
	// be allocated for every frame.
	if e, ok := cutMessageEvent(frame); ok {
		w.env = e
		w.onFrame(frame, &w.env, at)
		return
	}
	e, ok := scanEnvelope(frame)
	if ok && !e.isEvent() && e.method == nil {
		if id, isNum := e.idNumber(); isNum {
			w.mu.Lock()
			sl, waiting := w.pending[id]
			delete(w.pending, id)
			w.mu.Unlock()
			if waiting {
				sl.a.put(sl.i, replyOf(&e), w.wakes)
				return
			}
		}
	}
	if !ok {
		w.onFrame(frame, nil, at)
		return
	}
	w.env = e
	w.onFrame(frame, &w.env, at)
}

// send writes one text frame with payload frame.
func (w *wire) send(frame []byte) error {
	bp := outBufs.Get().(*[]byte)
	b := append(beginFrame(*bp), frame...)
	err := w.write(sealFrame(b, ws.OpText))
	putOut(bp, b)
	return err
}

// write writes frames (sealed) in one system call.
func (w *wire) write(frames ...[]byte) error {
	ioRelease()
	w.wmu.Lock()
	defer w.wmu.Unlock()
	w.moveDeadline()
	if sock := w.sock.Load(); sock != nil {
		return sock.writeFrames(frames)
	}
	return w.writeConn(frames)
}

// writePos is how far a write of frames has got: the next byte is frames[frame][off].
type writePos struct{ frame, off int }

// errWouldBlock: the socket took only part of a write that must not wait.
var errWouldBlock = errors.New("the socket would block")

// tryWrite writes frames (sealed) for a goroutine that must never wait on a socket (a poller:
// the relay may be waiting for it to read before it reads what is written). ok is false when
// it cannot even begin — another write holds the connection, or it has no raw socket — and
// nothing was written. A socket that takes only part returns errWouldBlock with the write lock
// still held and at where it stopped: finishWrite must complete it, on a goroutine that may
// wait, before anything else is written.
func (w *wire) tryWrite(frames [][]byte, at *writePos) (ok bool, err error) {
	sock := w.sock.Load()
	if sock == nil || !w.wmu.TryLock() {
		return false, nil
	}
	ioRelease()
	w.moveDeadline()
	err = sock.writeFrom(frames, at, false)
	if err != errWouldBlock {
		w.wmu.Unlock()
	}
	return true, err
}

// finishWrite completes a write that tryWrite left at at, waiting for room, and releases the
// write lock tryWrite kept.
func (w *wire) finishWrite(frames [][]byte, at *writePos) error {
	defer w.wmu.Unlock()
	return w.sock.Load().writeFrom(frames, at, true)
}

// moveDeadline gives the write about to be made writeWait (under wmu), moving the deadline
// at most once a second.
func (w *wire) moveDeadline() {
	if now := time.Now(); now.Sub(w.deadlineAt) > time.Second {
		w.deadlineAt = now
		w.setWriteDeadline(now.Add(writeWait))
	}
}

// setWriteDeadline sets the deadline of writes (under wmu).
func (w *wire) setWriteDeadline(t time.Time) {
	if sock := w.sock.Load(); sock != nil {
		sock.setWriteDeadline(t)
		return
	}
	_ = w.nc.SetWriteDeadline(t)
}

// writeConn writes frames through net.Conn: for connections no poller reads (TLS, or a system
// without epoll).
func (w *wire) writeConn(frames [][]byte) error {
	if len(frames) == 1 {
		_, err := w.nc.Write(frames[0])
		return err
	}
	bufs := net.Buffers(frames)
	_, err := bufs.WriteTo(w.nc)
	return err
}

// writeControl writes a control frame (§5.5).
func (w *wire) writeControl(op ws.OpCode, payload []byte) error {
	var buf [headroom + 125]byte
	b := append(beginFrame(buf[:0]), payload...)
	return w.write(sealFrame(b, op))
}

// putOut returns an outgoing frame's buffer (b, grown from *bp) to the pool.
func putOut(bp *[]byte, b []byte) {
	if cap(b) <= maxPooledOut {
		*bp = b[:0]
		outBufs.Put(bp)
	}
}

func (w *wire) closed() bool {
	select {
	case <-w.ended:
		return true
	default:
		return false
	}
}

// stop sends a normal close, waits briefly for the peer's reply, and closes the socket: every
// connection the generator opened is closed when the run ends.
func (w *wire) stop() {
	if w.stopping.Swap(true) {
		<-w.ended
		return
	}
	w.wmu.Lock()
	w.setWriteDeadline(time.Now().Add(closeGrace))
	w.deadlineAt = time.Now()
	w.wmu.Unlock()
	_ = w.writeControl(ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
	select {
	case <-w.ended:
	case <-time.After(closeGrace):
		w.readMu.Lock()
		w.end(errClosed)
		w.readMu.Unlock()
	}
}
