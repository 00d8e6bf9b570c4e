//go:build linux

package replay

import (
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// rawSocket is a connection's socket once its WebSocket handshake is done, taken out of the Go
// runtime's poller: a duplicate of the descriptor is kept and the net.Conn closed. Two reasons,
// both from the generator's profile (README):
//
//   - the runtime's poller watches every socket it made, so every frame that arrived woke it
//     too, to find no goroutine waiting (the pollers read them): its epoll_waits were a
//     twentieth of the generator's CPU;
//   - reads, writes and the pollers' harvests are raw system calls: the socket is non-blocking,
//     so none ever waits (a write that cannot go on gets EAGAIN), and through syscall.Syscall
//     the scheduler is told of each one; a call that runs long — on loopback a write also runs
//     the receiver's TCP receive path, tens of microseconds — then had its P taken by sysmon and
//     handed to another thread: thread wake-ups, context switches, a sysmon polling every 20 µs.
//
// Each system call on fd holds mu shared, and close holds it exclusively, so a closed
// descriptor's number, which the kernel reuses, is never read or written.
type rawSocket struct {
	mu       sync.RWMutex
	fd       int // -1 once closed
	closing  atomic.Bool
	deadline atomic.Int64 // of writes, unix nanoseconds; 0: none
	iov      []syscall.Iovec
}

// takeSocket takes nc's socket (a TCP connection) out of the runtime's poller.
func takeSocket(nc net.Conn) (*rawSocket, bool) {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil, false
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil, false
	}
	fd := -1
	var derr error
	cerr := rc.Control(func(f uintptr) {
		// The duplicate shares the open file description: non-blocking, like the original.
		r, _, e := syscall.Syscall(syscall.SYS_FCNTL, f, syscall.F_DUPFD_CLOEXEC, 0)
		if e != 0 {
			derr = e
			return
		}
		fd = int(r)
	})
	if cerr != nil || derr != nil {
		return nil, false
	}
	_ = nc.Close() // the socket stays open through fd; the runtime forgets it
	return &rawSocket{fd: fd}, true
}

// control calls f with the descriptor, unless the socket is closed.
func (s *rawSocket) control(f func(fd int) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.fd < 0 {
		return net.ErrClosed
	}
	return f(s.fd)
}

// read reads once into p; syscall.EAGAIN when nothing is there.
func (s *rawSocket) read(p []byte) (int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.fd < 0 {
		return 0, net.ErrClosed
	}
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(s.fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func (s *rawSocket) setWriteDeadline(t time.Time) { s.deadline.Store(t.UnixNano()) }

// maxIovec is the most buffers one writev takes (IOV_MAX).
const maxIovec = 1024

// writeFrames writes frames, in order and whole (the caller serialises writes): as few raw
// writes as the socket takes; when its buffer is full, it waits for room until the deadline.
func (s *rawSocket) writeFrames(frames [][]byte) error {
	var at writePos
	return s.writeFrom(frames, &at, true)
}

// writeFrom writes frames from at on, moving at as bytes go. Without wait, a socket that
// cannot take more ends it with errWouldBlock, at where it stopped.
func (s *rawSocket) writeFrom(frames [][]byte, at *writePos, wait bool) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	i, off := at.frame, at.off // the next byte to write: frames[i][off]
	defer func() { at.frame, at.off = i, off }()
	for i < len(frames) {
		if s.fd < 0 {
			return net.ErrClosed
		}
		var n uintptr
		var e syscall.Errno
		if i == len(frames)-1 {
			b := frames[i][off:]
			n, _, e = syscall.RawSyscall(syscall.SYS_WRITE, uintptr(s.fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
		} else {
			s.iov = s.iov[:0]
			for j := i; j < len(frames) && len(s.iov) < maxIovec; j++ {
				b := frames[j]
				if j == i {
					b = b[off:]
				}
				if len(b) > 0 {
					s.iov = append(s.iov, syscall.Iovec{Base: unsafe.SliceData(b)})
					s.iov[len(s.iov)-1].SetLen(len(b))
				}
			}
			n, _, e = syscall.RawSyscall(syscall.SYS_WRITEV, uintptr(s.fd), uintptr(unsafe.Pointer(unsafe.SliceData(s.iov))), uintptr(len(s.iov)))
		}
		switch e {
		case 0:
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			if !wait {
				return errWouldBlock
			}
			if err := s.awaitRoom(); err != nil {
				return err
			}
			continue
		default:
			return e
		}
		for left := int(n); left > 0; {
			if rest := len(frames[i]) - off; left < rest {
				off += left
				break
			} else {
				left -= rest
				i, off = i+1, 0
			}
		}
		for i < len(frames) && off == len(frames[i]) { // empty frames
			i, off = i+1, 0
		}
	}
	return nil
}

// awaitRoom waits until the socket takes more bytes, the write deadline passes, or the socket
// is being closed (close shuts it down first, which ends the wait). A blocking call, made
// through syscall.Syscall: the runtime runs other goroutines meanwhile.
func (s *rawSocket) awaitRoom() error {
	for {
		if s.closing.Load() {
			return net.ErrClosed
		}
		var ts *syscall.Timespec
		if d := s.deadline.Load(); d != 0 {
			left := time.Until(time.Unix(0, d))
			if left <= 0 {
				return os.ErrDeadlineExceeded
			}
			t := syscall.NsecToTimespec(int64(left))
			ts = &t
		}
		pfd := struct {
			fd             int32
			events, revent int16
		}{int32(s.fd), 0x4 /* POLLOUT */, 0}
		_, _, e := syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1, uintptr(unsafe.Pointer(ts)), 0, 0, 0)
		if e != 0 && e != syscall.EINTR {
			return e
		}
		if pfd.revent != 0 {
			return nil // room, or an error the next write reports
		}
	}
}

// close closes the socket once: shut down first, which ends a write waiting for room (it holds
// mu shared), then closed under mu.
func (s *rawSocket) close() error {
	if s.closing.Swap(true) {
		return nil
	}
	_ = syscall.Shutdown(s.fd, syscall.SHUT_RDWR)
	s.mu.Lock()
	defer s.mu.Unlock()
	err := syscall.Close(s.fd)
	s.fd = -1
	return err
}

// rawEpollHarvest is epoll_wait with a zero timeout: it never waits, so it is a raw call.
func rawEpollHarvest(epfd uintptr, events []syscall.EpollEvent) (int, error) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_WAIT, epfd, uintptr(unsafe.Pointer(unsafe.SliceData(events))), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
