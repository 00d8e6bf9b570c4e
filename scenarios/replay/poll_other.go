//go:build !linux

package replay

import "time"

// watch has w's frames read by a goroutine of its own (the pollers use epoll, Linux only).
func watch(w *wire) { go readLoop(w) }

// rawSocket is Linux's (rawio_linux.go): elsewhere no socket is taken from the runtime, and a
// wire's sock stays nil.
type rawSocket struct{}

func (*rawSocket) writeFrames([][]byte) error { panic("replay: no raw sockets on this system") }
func (*rawSocket) setWriteDeadline(time.Time) { panic("replay: no raw sockets on this system") }
func (*rawSocket) close() error               { panic("replay: no raw sockets on this system") }

func (*rawSocket) writeFrom([][]byte, *writePos, bool) error {
	panic("replay: no raw sockets on this system")
}
