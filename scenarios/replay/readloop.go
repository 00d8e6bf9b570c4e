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
		into := buf
		if w.in.part != nil {
			into = w.in.space()
		}
		n, err := w.nc.Read(into)
		if n > 0 {
			data := buf[:n]
			if w.in.part != nil {
				*w.in.part = (*w.in.part)[:len(*w.in.part)+n]
				data = *w.in.part
			}
			if terr := w.take(data, time.Now()); terr != nil {
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
