package replay

import (
	"errors"
	"io"
	"time"
)

var errEOF = errors.New("connection closed by the server (EOF)")

// readLoop reads w on a goroutine of its own: for connections no poller takes (TLS, or a
// system without epoll).
func readLoop(w *wire) {
	buf := make([]byte, 64<<10)
	for {
		n, err := w.nc.Read(w.readBuf(buf))
		if n > 0 {
			w.readMu.Lock()
			if w.closed() { // ended by stop while the read returned
				w.readMu.Unlock()
				return
			}
			terr := w.took(buf, n, time.Now())
			w.readMu.Unlock()
			if terr == errServerClosed {
				return
			}
			if terr != nil {
				w.end(terr)
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errEOF
			}
			w.end(err)
			return
		}
	}
}
