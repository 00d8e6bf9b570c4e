package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Instance is a Server listening on a socket, as started by Start.
type Instance struct {
	srv    *Server
	http   *http.Server
	addr   string
	url    string
	served chan struct{} // closed when the HTTP server has stopped serving
	stop   context.CancelFunc
}

// Start listens on cfg.Addr ("127.0.0.1:0" picks a free port) and serves in the background
// until ctx is done or Shutdown is called. With TLSCert/TLSKey it serves wss://.
func Start(ctx context.Context, cfg Config) (*Instance, error) {
	// Listen before the server starts (its expiry loop, its cluster link), so a bad address or
	// TLS key is reported alone, not after a "shutting down" of a server that never served.
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, fmt.Errorf("relay config: %w", err)
	}
	var tlsConf *tls.Config
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("relay TLS: %w", err)
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("relay listen: %w", err)
	}
	srv, err := New(cfg)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	cfg = srv.cfg
	scheme := "ws"
	if tlsConf != nil {
		ln = tls.NewListener(ln, tlsConf)
		scheme = "wss"
	}
	addr := ln.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1" // a wildcard listener is reachable on loopback
	}
	hostPort := net.JoinHostPort(host, fmt.Sprint(addr.Port))
	inst := &Instance{
		srv:  srv,
		addr: hostPort,
		url:  scheme + "://" + hostPort + cfg.Path,
		http: &http.Server{
			Handler:           srv.Handler(),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
		},
		served: make(chan struct{}),
	}
	go func() {
		defer close(inst.served)
		if err := inst.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Logger.Error("relay stopped serving", "err", err)
		}
	}()
	// The relay belongs to ctx: when it ends, shut down with the configured drain.
	watch, stop := context.WithCancel(context.WithoutCancel(ctx))
	inst.stop = stop
	go func() {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout+time.Second)
			defer cancel()
			_ = inst.Shutdown(sctx)
		case <-watch.Done():
		}
	}()
	cfg.Logger.Info("relay listening", "url", inst.url, "compat", cfg.Compat)
	return inst, nil
}

// URL is the WebSocket URL of the relay, e.g. "ws://127.0.0.1:3030/mpc".
func (i *Instance) URL() string { return i.url }

// Addr is the host:port the relay listens on.
func (i *Instance) Addr() string { return i.addr }

// Server is the relay being served.
func (i *Instance) Server() *Server { return i.srv }

// Shutdown stops accepting connections, then shuts the relay down gracefully (Server.Shutdown).
// It may be called more than once.
func (i *Instance) Shutdown(ctx context.Context) error {
	i.stop()
	herr := i.http.Shutdown(ctx)
	serr := i.srv.Shutdown(ctx)
	select {
	case <-i.served:
	case <-ctx.Done():
	}
	return errors.Join(herr, serr)
}
