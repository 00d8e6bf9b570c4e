package relay

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// socket is a connection's net.Conn as gorilla writes to it. While the writer has a batch of
// queued frames (conn.writeBatch), gorilla's writes of all of them collect in a pooled buffer
// that reaches the kernel in one write when the batch is done (or the buffer is full): the
// relay's share of "read one frame, write it k times" costs one syscall per batch, not one per
// frame. Outside a batch (handshake, pongs and close frames gorilla writes on its own) writes
// go straight through. Gorilla sets a write deadline before every frame; socket keeps the
// latest and applies it to the kernel socket only when it writes, once per batch.
type socket struct {
	net.Conn

	mu       sync.Mutex  // gorilla's reader writes pongs and close frames on its own goroutine
	buf      []byte      // non-nil during a batch
	bufp     *[]byte     // buf's pool entry
	deadline time.Time   // the latest deadline gorilla asked for
	applied  time.Time   // the deadline the kernel socket has
	stale    atomic.Bool // cut changed the kernel socket's deadline: applied is not it
}

// batchBufferSize is the buffer of one batch: several typical frames (a few hundred bytes to a
// few KiB); a larger frame is written directly after what was buffered.
const batchBufferSize = 32 << 10

var batchBuffers = sync.Pool{New: func() any { b := make([]byte, 0, batchBufferSize); return &b }}

func (s *socket) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.buf == nil {
		return s.write(p)
	}
	if len(s.buf)+len(p) > cap(s.buf) {
		if err := s.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) > cap(s.buf) {
			return s.write(p)
		}
	}
	s.buf = append(s.buf, p...)
	return len(p), nil
}

func (s *socket) write(p []byte) (int, error) {
	if s.applied != s.deadline || s.stale.Load() {
		s.stale.Store(false)
		if err := s.Conn.SetWriteDeadline(s.deadline); err != nil {
			return 0, err
		}
		s.applied = s.deadline
	}
	return s.Conn.Write(p)
}

func (s *socket) SetWriteDeadline(t time.Time) error {
	s.mu.Lock()
	s.deadline = t
	s.mu.Unlock()
	return nil
}

func (s *socket) SetDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deadline, s.applied = t, t
	return s.Conn.SetDeadline(t)
}

// cut makes a write in progress fail now rather than at its deadline: the connection was
// dropped for its queue's bound (§6.2), and its writer must not hold it for another WriteWait
// on a client that does not read. It takes no lock, as that write holds s.mu; a later write
// (the close frame) applies its own deadline again.
func (s *socket) cut() {
	_ = s.Conn.SetWriteDeadline(time.Now())
	s.stale.Store(true)
}

// beginBatch makes writes collect in a pooled buffer until endBatch.
func (s *socket) beginBatch() {
	s.mu.Lock()
	s.bufp = batchBuffers.Get().(*[]byte)
	s.buf = (*s.bufp)[:0]
	s.mu.Unlock()
}

// endBatch writes what the batch collected and returns the buffer to the pool.
func (s *socket) endBatch() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.flushLocked()
	*s.bufp = s.buf[:0]
	batchBuffers.Put(s.bufp)
	s.buf, s.bufp = nil, nil
	return err
}

func (s *socket) flushLocked() error {
	if len(s.buf) == 0 {
		return nil
	}
	_, err := s.write(s.buf)
	s.buf = s.buf[:0]
	return err
}

// tcp returns the TCP connection under s, if it is one (not TLS).
func (s *socket) tcp() *net.TCPConn {
	tc, _ := s.Conn.(*net.TCPConn)
	return tc
}

// hijackSocket is the http.ResponseWriter given to gorilla's Upgrade: its Hijack hands gorilla
// the connection wrapped in a socket.
type hijackSocket struct {
	http.ResponseWriter
	sock *socket
}

func (h *hijackSocket) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.sock = &socket{Conn: nc}
	return h.sock, brw, nil
}
