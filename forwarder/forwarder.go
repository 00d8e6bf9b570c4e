// Package forwarder is the baseline of the relay's benchmarks and of scenario replays: a
// minimal gorilla/websocket server that writes every frame it reads, verbatim, to every other
// connection in the same room (the URL query parameter "room", default ""). It parses nothing,
// keeps no protocol state and has no send queues: it is the floor of what any relay costs.
package forwarder

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

const (
	readLimit = 64 << 20         // far above any frame of the protocol; a floor, not a policy
	writeWait = 10 * time.Second // a peer that stops reading is dropped after this
)

// Forwarder is an http.Handler; every path is a WebSocket endpoint.
type Forwarder struct {
	upgrader websocket.Upgrader

	mu     sync.RWMutex
	rooms  map[string]map[*peer]struct{}
	closed bool
}

type peer struct {
	ws  *websocket.Conn
	wmu sync.Mutex // gorilla allows one writer at a time
}

// New returns an empty forwarder.
func New() *Forwarder {
	return &Forwarder{
		upgrader: websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }},
		rooms:    make(map[string]map[*peer]struct{}),
	}
}

func (f *Forwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ws, err := f.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered the HTTP error
	}
	room := r.URL.Query().Get("room")
	p := &peer{ws: ws}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		goAway(ws)
		return
	}
	if f.rooms[room] == nil {
		f.rooms[room] = make(map[*peer]struct{})
	}
	f.rooms[room][p] = struct{}{}
	f.mu.Unlock()
	defer f.leave(room, p)

	ws.SetReadLimit(readLimit)
	for {
		typ, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		f.mu.RLock()
		for other := range f.rooms[room] {
			if other != p {
				other.write(typ, data)
			}
		}
		f.mu.RUnlock()
	}
}

// Peers reports how many connections are in room (tests and benchmarks wait on it: a dialled
// connection joins its room just after the handshake).
func (f *Forwarder) Peers(room string) int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return len(f.rooms[room])
}

func (p *peer) write(typ int, data []byte) {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_ = p.ws.SetWriteDeadline(time.Now().Add(writeWait))
	if err := p.ws.WriteMessage(typ, data); err != nil {
		p.ws.Close() // its reader then ends and leaves the room
	}
}

func (f *Forwarder) leave(room string, p *peer) {
	f.mu.Lock()
	delete(f.rooms[room], p)
	if len(f.rooms[room]) == 0 {
		delete(f.rooms, room)
	}
	f.mu.Unlock()
	p.ws.Close()
}

// Close refuses new connections and closes every open one with close frame 1001.
func (f *Forwarder) Close() {
	f.mu.Lock()
	f.closed = true
	var all []*peer
	for _, room := range f.rooms {
		for p := range room {
			all = append(all, p)
		}
	}
	f.mu.Unlock()
	for _, p := range all {
		goAway(p.ws)
	}
}

func goAway(ws *websocket.Conn) {
	msg := websocket.FormatCloseMessage(websocket.CloseGoingAway, "forwarder shutting down")
	_ = ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
	ws.Close()
}

// Start serves a forwarder on addr ("127.0.0.1:0" picks a free port) until ctx is done or
// shutdown is called. url is "ws://host:port/"; add "?room=NAME" to pick a room.
func Start(ctx context.Context, addr string) (url string, shutdown func(context.Context) error, err error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("forwarder listen: %w", err)
	}
	fw := New()
	hs := &http.Server{Handler: fw, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = hs.Serve(ln) // ends with ErrServerClosed on shutdown
	}()
	var once sync.Once
	stopped := make(chan struct{})
	shutdown = func(sctx context.Context) error {
		var herr error
		once.Do(func() {
			close(stopped)
			herr = hs.Shutdown(sctx)
			fw.Close()
		})
		select {
		case <-served:
		case <-sctx.Done():
			return errors.Join(herr, sctx.Err())
		}
		return herr
	}
	go func() { // ends with ctx or with shutdown
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = shutdown(sctx)
		case <-stopped:
		}
	}()
	tcp := ln.Addr().(*net.TCPAddr)
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "ws://" + net.JoinHostPort(host, fmt.Sprint(tcp.Port)) + "/", shutdown, nil
}
