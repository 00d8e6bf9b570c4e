package replay

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The generator reads its connections with a few pollers, each a goroutine waiting on its own
// epoll set (level-triggered) for many connections, rather than with a goroutine per connection:
// there a read that finds nothing parks the goroutine (an extra read returning EAGAIN per
// frame), and every frame costs a wake-up of its reader. A poller reads each readable connection
// once — into one buffer large enough for everything queued — and takes its frames apart in
// place, so one read and no wake-up serve all the frames that arrived together, and one
// epoll_wait all the connections that became readable together.

type poller struct {
	epfd  int
	ep    syscall.RawConn // the epoll fd in the Go runtime's own poller: the poller waits there
	buf   []byte          // what a read brings when no frame is incomplete
	wakes wakeups         // given at the end of each harvest

	// wires are the connections watched, by the id in their epoll events (a slot, reused once
	// free: an event of the connection that had it, harvested before it left, only makes the
	// poller read the new one once, finding nothing or its frames).
	mu    sync.Mutex
	wires []*wire
	free  []int32
}

func (p *poller) add(w *wire) int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		id := p.free[n-1]
		p.free = p.free[:n-1]
		p.wires[id] = w
		return id
	}
	p.wires = append(p.wires, w)
	return int32(len(p.wires) - 1)
}

// remove frees w's slot; a second call (a connection is taken off when the server's close
// comes, then again when it ends) finds the slot another's, or free, and leaves it.
func (p *poller) remove(id int32, w *wire) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.wires[id] == w {
		p.wires[id] = nil
		p.free = append(p.free, id)
	}
}

func (p *poller) wire(id int32) *wire {
	p.mu.Lock()
	defer p.mu.Unlock()
	if int(id) < len(p.wires) {
		return p.wires[id]
	}
	return nil
}

const pollBufSize = 256 << 10

var (
	pollersOnce sync.Once
	pollers     []*poller
	pollersErr  error
	pollNext    atomic.Uint32
)

func startPollers() {
	n := min(runtime.GOMAXPROCS(0), 4)
	for range n {
		epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			pollersErr = fmt.Errorf("epoll: %w", err)
			return
		}
		// The poller waits for its epoll set to become readable in the Go runtime's poller (an
		// epoll set can itself be watched), parked like any goroutine: a goroutine blocked in
		// epoll_wait would hold an OS thread in a system call, which the runtime answers with
		// thread hand-offs and a busy sysmon (measured: a sixth of the generator's CPU).
		if err := syscall.SetNonblock(epfd, true); err != nil {
			pollersErr = fmt.Errorf("epoll: %w", err)
			return
		}
		ep, err := os.NewFile(uintptr(epfd), "epoll").SyscallConn()
		if err != nil {
			pollersErr = fmt.Errorf("epoll: %w", err)
			return
		}
		p := &poller{epfd: epfd, ep: ep, buf: make([]byte, pollBufSize)}
		pollers = append(pollers, p)
		go p.run()
	}
}

// watch has w's frames read: by a poller when w is a TCP socket, else by a goroutine of its own
// (TLS).
func watch(w *wire) {
	pollersOnce.Do(startPollers)
	if pollersErr != nil {
		go readLoop(w)
		return
	}
	// Under the write lock: a write already under way (a pong for a ping that came with the
	// handshake) finishes on nc before nc is closed.
	w.wmu.Lock()
	sock, ok := takeSocket(w.nc)
	if ok {
		if !w.deadlineAt.IsZero() { // else the first write sets it
			sock.setWriteDeadline(w.deadlineAt.Add(writeWait))
		}
		w.sock.Store(sock)
	}
	w.wmu.Unlock()
	if !ok {
		go readLoop(w)
		return
	}
	p := pollers[int(pollNext.Add(1))%len(pollers)]
	w.wakes = &p.wakes
	id := p.add(w)
	w.unwatch = func() {
		p.remove(id, w)
		// Out of the epoll set too: a socket still open (a close being echoed) and readable
		// would otherwise come back in every harvest (level-triggered).
		_ = sock.control(func(fd int) error { return syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, fd, nil) })
	}
	err := sock.control(func(fd int) error {
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: id}
		return syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev)
	})
	if err != nil {
		w.end(fmt.Errorf("epoll: %w", err))
	}
}

func (p *poller) run() {
	// A harvest is bounded, and the poller yields between harvests: the session drivers'
	// timers (the open loop's schedule) must not wait behind a long run of reads.
	events := make([]syscall.EpollEvent, 64)
	// One RawConn.Read for the poller's life: f is called again each time the runtime reports
	// the epoll set readable (an edge: a connection got data since the last harvest), so no
	// wake-up is lost between a harvest and the park.
	err := p.ep.Read(func(fd uintptr) bool {
		for {
			n, err := rawEpollHarvest(fd, events)
			if err == syscall.EINTR {
				continue
			}
			if err != nil {
				panic(fmt.Sprintf("replay: epoll_wait: %v", err)) // only a bad epoll fd gets here
			}
			if n == 0 {
				return false
			}
			again := n == len(events)
			for _, ev := range events[:n] {
				w := p.wire(ev.Fd)
				if w == nil {
					continue
				}
				// Read first: readable must run whatever the event says.
				if p.readable(w) || ev.Events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP) != 0 {
					again = true
				}
			}
			p.wakes.give()
			// A read that filled its buffer may have left bytes behind, and a peer that shut
			// its side down may have its EOF waiting behind the bytes a read took (data and FIN
			// came together): neither brings a new edge (level-triggered: only the next
			// harvest shows them); otherwise everything that arrives from now on brings an
			// edge, and the poller parks without another epoll_wait that would find nothing.
			if !again {
				return false
			}
			runtime.Gosched()
		}
	})
	panic(fmt.Sprintf("replay: epoll set: %v", err)) // never closed
}

// readable reads w once: into the end of its incomplete frame if it has one (a large frame is
// read straight into its own buffer), else into the poller's buffer; then takes its frames apart,
// stamped with the time the read returned (not the harvest's start: bytes that arrived while
// earlier connections of the harvest were handled would be stamped before they came). It
// reports whether the read filled its buffer (more may be waiting).
func (p *poller) readable(w *wire) (full bool) {
	w.readMu.Lock()
	defer w.readMu.Unlock()
	buf := w.readBuf(p.buf)
	n, rerr := w.sock.Load().read(buf) // never waits: the poller waits for all
	switch {
	case rerr == net.ErrClosed: // closed by stop
		w.end(rerr)
		return false
	case rerr == syscall.EAGAIN || rerr == syscall.EINTR:
		return rerr == syscall.EINTR
	case rerr != nil:
		w.end(rerr)
		return false
	case n == 0:
		w.end(errEOF)
		return false
	}
	at := time.Now()
	ioAcquire()
	switch err := w.took(p.buf, n, at); err {
	case nil:
	case errServerClosed:
		w.unwatch()
		return false
	default:
		w.end(err)
	}
	return n == len(buf)
}
