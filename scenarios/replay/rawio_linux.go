//go:build linux

package replay

import (
	"errors"
	"syscall"
	"unsafe"
)

// The generator's reads, writes and harvesting epoll_waits are made as raw system calls: its
// sockets are non-blocking, so none of these ever waits (a write or read that cannot go on
// returns EAGAIN, and the runtime's poller waits instead). Through syscall.Syscall the Go
// scheduler is told of each one, and a call that runs long — on loopback a write also runs the
// receiver's TCP receive path, tens of microseconds — has its P taken by sysmon and handed to
// another thread: thread wake-ups, context switches and a sysmon polling every 20 µs, about a
// tenth of the generator's CPU by the profile in the README. A raw call keeps its P for the few
// microseconds it runs.

func rawRead(fd uintptr, p []byte) (int, error) {
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func rawWrite(fd uintptr, p []byte) (int, error) {
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func rawWritev(fd uintptr, iov []syscall.Iovec) (int, error) {
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(unsafe.SliceData(iov))), uintptr(len(iov)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// rawEpollHarvest is epoll_wait with a zero timeout: it never waits.
func rawEpollHarvest(epfd uintptr, events []syscall.EpollEvent) (int, error) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_WAIT, epfd, uintptr(unsafe.Pointer(unsafe.SliceData(events))), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// maxIovec is the most buffers one writev takes (IOV_MAX).
const maxIovec = 1024

// writeFrames writes frames, in order, with as few raw writes as the socket takes; when the
// socket's buffer is full it waits in the runtime's poller, within the write deadline.
func (w *wire) writeFrames(frames [][]byte) error {
	if w.rc == nil {
		return w.writeConn(frames)
	}
	i, off := 0, 0 // the next byte to write: frames[i][off]
	var werr error
	err := w.rc.Write(func(fd uintptr) bool {
		for i < len(frames) {
			var n int
			if i == len(frames)-1 {
				n, werr = rawWrite(fd, frames[i][off:])
			} else {
				w.iov = w.iov[:0]
				for j := i; j < len(frames) && len(w.iov) < maxIovec; j++ {
					b := frames[j]
					if j == i {
						b = b[off:]
					}
					if len(b) > 0 {
						w.iov = append(w.iov, syscall.Iovec{Base: unsafe.SliceData(b)})
						w.iov[len(w.iov)-1].SetLen(len(b))
					}
				}
				n, werr = rawWritev(fd, w.iov)
			}
			switch {
			case werr == syscall.EINTR:
				werr = nil
				continue
			case werr == syscall.EAGAIN:
				werr = nil
				return false // the runtime waits until the socket takes more
			case werr != nil:
				return true
			}
			for n > 0 && i < len(frames) {
				left := len(frames[i]) - off
				if n < left {
					off += n
					break
				}
				n -= left
				i, off = i+1, 0
			}
			for i < len(frames) && off == len(frames[i]) { // empty frames
				i, off = i+1, 0
			}
		}
		return true
	})
	return errors.Join(err, werr)
}
