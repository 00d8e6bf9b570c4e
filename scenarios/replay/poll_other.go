//go:build !linux

package replay

// watch has w's frames read by a goroutine of its own (the pollers use epoll, Linux only).
func watch(w *wire) { go readLoop(w) }

func (w *wire) writeFrames(frames [][]byte) error { return w.writeConn(frames) }
