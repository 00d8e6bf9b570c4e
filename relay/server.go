package relay

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server is the reference relay: an http.Handler serving the protocol on Config.Path, plus
// /healthz, /metrics and optionally a static web app.
type Server struct {
	cfg      Config
	log      *slog.Logger
	metrics  *metrics
	upgrader websocket.Upgrader
	handler  http.Handler

	// The protocol state (state.go): no lock of its own; each group has one (doc.go).
	groups       groupTable
	sessionCount atomic.Int64 // sessions in all groups, for MaxSessions

	nextConnID atomic.Uint64

	connsMu sync.Mutex
	conns   map[*conn]struct{}
	closing bool
	connWG  sync.WaitGroup // the read pump and the writer of every connection

	cl *clusterLink // cluster mode only (cluster_link.go)

	expiryStop chan struct{}
	expiryDone chan struct{}
	stopOnce   sync.Once
}

// readBufferSize is gorilla's per-connection read buffer.
const readBufferSize = 1 << 10

// New checks cfg, fills its defaults and returns a Server. Its idle-expiry goroutine runs
// until Shutdown.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, fmt.Errorf("relay config: %w", err)
	}
	s := &Server{
		cfg:        cfg,
		log:        cfg.Logger,
		metrics:    newMetrics(),
		conns:      make(map[*conn]struct{}),
		expiryStop: make(chan struct{}),
		expiryDone: make(chan struct{}),
	}
	s.upgrader = websocket.Upgrader{
		// A small read buffer: frame headers and small frames pass through it, and a larger
		// frame is read from the socket straight into its pooled frame buffer (readFrame), so
		// 1 KiB costs no throughput (measured) and saves 3 KiB per idle connection over the
		// 4 KiB reader of the HTTP server. Write buffers come from a pool for each frame, so
		// idle connections hold none (gorilla assembles a frame in one; the socket's pooled
		// batch buffer, socket.go, collects the frames of a batch).
		ReadBufferSize:  readBufferSize,
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     s.checkOrigin,
	}
	if cfg.Cluster.URL != "" {
		if err := s.startCluster(); err != nil {
			return nil, fmt.Errorf("relay cluster: %w", err)
		}
	}
	s.handler = s.routes()
	go s.expireLoop()
	return s, nil
}

// Config returns the effective configuration (defaults filled in).
func (s *Server) Config() Config { return s.cfg }

// Handler serves the protocol on the configured path, /healthz, /metrics and the static app.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(s.cfg.Path, s.serveWS)
	mux.HandleFunc("/healthz", s.serveHealth)
	mux.Handle("/metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
	if s.cfg.StaticDir != "" {
		mux.Handle("/", staticHandler(s.cfg.StaticDir))
	}
	return mux
}

// staticHandler serves dir with the headers the original sent, which browsers require for
// SharedArrayBuffer (WebAssembly threads of the wallet's MPC code).
func staticHandler(dir string) http.Handler {
	files := http.FileServer(http.Dir(dir))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cross-Origin-Opener-Policy", "same-origin")
		w.Header().Set("Cross-Origin-Embedder-Policy", "require-corp")
		files.ServeHTTP(w, r)
	})
}

func (s *Server) serveHealth(w http.ResponseWriter, _ *http.Request) {
	s.connsMu.Lock()
	closing := s.closing
	s.connsMu.Unlock()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if closing {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "shutting down")
		return
	}
	if s.cl != nil {
		s.cl.serveHealth(w) // cluster mode: NATS connectivity
		return
	}
	fmt.Fprintln(w, "ok")
}

// checkOrigin accepts any origin when none are configured (the original's behaviour, which
// browser wallets served from another origin rely on), else only the listed ones.
func (s *Server) checkOrigin(r *http.Request) bool {
	if len(s.cfg.AllowedOrigins) == 0 {
		return true
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true // not a browser
	}
	return slices.Contains(s.cfg.AllowedOrigins, "*") || slices.Contains(s.cfg.AllowedOrigins, origin)
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	s.connsMu.Lock()
	closing := s.closing
	s.connsMu.Unlock()
	if closing {
		http.Error(w, "relay is shutting down", http.StatusServiceUnavailable)
		return
	}
	hs := &hijackSocket{ResponseWriter: w}
	ws, err := s.upgrader.Upgrade(hs, r, nil) // answers the HTTP error itself
	if err != nil {
		s.log.Debug("upgrade refused", "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"), "err", err)
		return
	}
	c := newConn(s, ws, hs.sock, s.nextConnID.Add(1))
	s.connsMu.Lock()
	if s.closing {
		s.connsMu.Unlock()
		c.discard()
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(closeShutdown, "relay is shutting down"), time.Now().Add(time.Second))
		_ = ws.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.connWG.Add(1)
	s.connsMu.Unlock()
	s.metrics.connections.Inc()
	s.metrics.connectionsTotal.Inc()
	s.log.Debug("connection opened", "conn", c.id, "remote", r.RemoteAddr)

	// The read pump gets a goroutine of its own and the HTTP handler returns: the HTTP
	// server's per-connection state (buffers, request) is freed while the socket lives on.
	go func() {
		defer func() {
			s.connsMu.Lock()
			delete(s.conns, c)
			s.connsMu.Unlock()
			s.metrics.connections.Dec()
			s.connWG.Done()
		}()
		c.readPump()
	}()
}

// Shutdown refuses new connections, lets the requests in flight end (in cluster mode one
// forwarded to another node may take up to WriteWait), sends every connection its queued frames
// and a close frame 1001, and waits for them to end, at most DrainTimeout or until ctx is done;
// then it closes what is left. It also stops idle expiry.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.cl != nil {
		defer s.cl.close() // cluster mode: after the connections' §6.1 notices, say goodbye
	}
	s.stopOnce.Do(func() { close(s.expiryStop) })
	<-s.expiryDone

	s.connsMu.Lock()
	s.closing = true
	open := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		open = append(open, c)
	}
	s.connsMu.Unlock()
	s.log.Info("shutting down", "connections", len(open))
	// First no connection starts another request, then the requests in flight end (all at once:
	// a forwarded one may take up to the write wait), so every frame a request produces is
	// queued before any connection stops taking frames, and the drain delivers all of them.
	for _, c := range open {
		c.halt()
	}
	for _, c := range open {
		c.waitIdle()
	}
	if s.cl != nil {
		s.cl.drainAll() // cluster mode: requests still on their way to other nodes
	}
	for _, c := range open {
		c.end(stopMode{code: closeShutdown, text: "relay is shutting down", drain: true})
	}

	done := make(chan struct{})
	go func() {
		s.connWG.Wait()
		close(done)
	}()
	drain := time.NewTimer(s.cfg.DrainTimeout)
	defer drain.Stop()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	case <-drain.C:
	}
	// Bounded drain is over: cut the sockets; the pumps then end at once.
	for _, c := range open {
		_ = c.sock.Close()
	}
	select {
	case <-done:
		return ctx.Err()
	case <-time.After(time.Second):
		return fmt.Errorf("relay shutdown: connections still open after closing their sockets")
	}
}
