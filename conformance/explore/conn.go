package explore

import (
	"context"
	"net/http"
	"time"

	"github.com/gorilla/websocket"

	"mpcrelay/conformance/model"
)

// wsConn is one client connection of a run; its reader feeds the run's inbox.
type wsConn struct {
	id     model.Conn
	name   string
	ws     *websocket.Conn
	closed bool // closed by the run (frames after that are not the relay's doing)
	done   chan struct{}
}

// arrival is a frame (or the end of a connection) as the run received it.
type arrival struct {
	c     *wsConn
	frame model.Frame
	at    time.Time
}

var dialer = &websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 32 << 10, WriteBufferSize: 32 << 10}

func dial(ctx context.Context, url string, id model.Conn, name string, inbox chan<- arrival) (*wsConn, error) {
	ws, resp, err := dialer.DialContext(ctx, url, http.Header{})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(64 << 20)
	c := &wsConn{id: id, name: name, ws: ws, done: make(chan struct{})}
	go c.read(inbox)
	return c, nil
}

func (c *wsConn) read(inbox chan<- arrival) {
	defer close(c.done)
	for {
		typ, data, err := c.ws.ReadMessage()
		if err != nil {
			inbox <- arrival{c: c, frame: model.Frame{Closed: true}, at: time.Now()}
			return
		}
		inbox <- arrival{c: c, frame: model.Frame{Data: data, Binary: typ == websocket.BinaryMessage}, at: time.Now()}
	}
}

func (c *wsConn) write(data []byte, binary bool) error {
	typ := websocket.TextMessage
	if binary {
		typ = websocket.BinaryMessage
	}
	_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.ws.WriteMessage(typ, data)
}

// close ends the connection from the client side.
func (c *wsConn) close(kind CloseKind) {
	c.closed = true
	if kind == CloseFrame {
		msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
		_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
	}
	_ = c.ws.Close()
}
