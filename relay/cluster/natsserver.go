package cluster

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// DefaultNATSMaxPayload is the max_payload of the embedded NATS server: room for the relay's
// default 16 MiB frames plus the cluster envelope (NATS's own default of 1 MiB is too small for
// §4.7's 1 MiB bodies).
const DefaultNATSMaxPayload = 32 << 20

// ServerConfig configures an embedded NATS server: `mpcrelay nats`, `serve --nats-embedded`
// and the tests. For production the standalone nats-server is as good a choice; this one is
// the same server (github.com/nats-io/nats-server/v2), run inside the mpcrelay binary.
type ServerConfig struct {
	Addr        string   // client listen address, host:port (port 0: a free one)
	ClusterAddr string   // route listen address for a NATS cluster, host:port; "" = no routes
	ClusterName string   // the NATS cluster's name (servers of one NATS cluster share it)
	Routes      []string // route URLs of other NATS servers (nats-route://host:port)
	MaxPayload  int32    // largest message; 0 = DefaultNATSMaxPayload
	Logger      *slog.Logger
	// Configure, when set, edits the server's options last (tests: users and permissions).
	Configure func(*server.Options)
}

// NATSServer is an embedded NATS server.
type NATSServer struct {
	s    *server.Server
	cfg  ServerConfig
	addr string // kept for Restart after Shutdown
}

// StartNATS starts an embedded NATS server and waits until it accepts clients.
func StartNATS(cfg ServerConfig) (*NATSServer, error) {
	host, port, err := splitHostPort(cfg.Addr, "127.0.0.1")
	if err != nil {
		return nil, fmt.Errorf("NATS address: %w", err)
	}
	if cfg.MaxPayload == 0 {
		cfg.MaxPayload = DefaultNATSMaxPayload
	}
	opts := &server.Options{
		ServerName:     "mpcrelay-nats-" + strconv.Itoa(int(time.Now().UnixNano()%1e6)),
		Host:           host,
		Port:           port,
		MaxPayload:     cfg.MaxPayload,
		MaxPending:     4 * int64(cfg.MaxPayload), // a client may have a few large messages in flight
		NoSigs:         true,
		NoLog:          cfg.Logger == nil,
		MaxControlLine: 4096,
	}
	if cfg.ClusterAddr != "" {
		chost, cport, err := splitHostPort(cfg.ClusterAddr, host)
		if err != nil {
			return nil, fmt.Errorf("NATS cluster address: %w", err)
		}
		opts.Cluster.Host, opts.Cluster.Port = chost, cport
		opts.Cluster.Name = cfg.ClusterName
		if opts.Cluster.Name == "" {
			opts.Cluster.Name = "mpcrelay"
		}
		for _, r := range cfg.Routes {
			u, err := url.Parse(r)
			if err != nil || u.Host == "" {
				return nil, fmt.Errorf("NATS route %q: want nats-route://host:port", r)
			}
			opts.Routes = append(opts.Routes, u)
		}
	} else if len(cfg.Routes) > 0 {
		return nil, fmt.Errorf("NATS routes need a cluster address to listen on")
	}
	if cfg.Configure != nil {
		cfg.Configure(opts)
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("NATS server: %w", err)
	}
	if cfg.Logger != nil {
		s.SetLoggerV2(natsLogger{cfg.Logger.With("component", "nats-server")}, false, false, false)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("NATS server on %s did not start within 10s", cfg.Addr)
	}
	return &NATSServer{s: s, cfg: cfg, addr: s.Addr().String()}, nil
}

func splitHostPort(addr, defHost string) (string, int, error) {
	if addr == "" {
		return defHost, -1, nil
	}
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("port %q: %w", p, err)
	}
	if port == 0 {
		port = -1 // nats-server's "pick a free port"
	}
	if host == "" {
		host = defHost
	}
	return host, port, nil
}

// ClientURL is the URL relays connect to (nats://host:port).
func (s *NATSServer) ClientURL() string { return s.s.ClientURL() }

// Addr is the client host:port.
func (s *NATSServer) Addr() string { return s.addr }

// RouteURL is the URL other NATS servers route to (nats-route://host:port), "" without routes.
func (s *NATSServer) RouteURL() string {
	a := s.s.ClusterAddr()
	if a == nil {
		return ""
	}
	return "nats-route://" + a.String()
}

// NumRoutes is the number of routes to other NATS servers.
func (s *NATSServer) NumRoutes() int { return s.s.NumRoutes() }

// Shutdown stops the server and waits for it.
func (s *NATSServer) Shutdown() {
	s.s.Shutdown()
	s.s.WaitForShutdown()
}

// natsLogger writes the NATS server's log through slog.
type natsLogger struct{ l *slog.Logger }

func (n natsLogger) Noticef(format string, v ...any) { n.l.Info(fmt.Sprintf(format, v...)) }
func (n natsLogger) Warnf(format string, v ...any)   { n.l.Warn(fmt.Sprintf(format, v...)) }
func (n natsLogger) Fatalf(format string, v ...any)  { n.l.Error(fmt.Sprintf(format, v...)) }
func (n natsLogger) Errorf(format string, v ...any)  { n.l.Error(fmt.Sprintf(format, v...)) }
func (n natsLogger) Debugf(format string, v ...any)  { n.l.Debug(fmt.Sprintf(format, v...)) }
func (n natsLogger) Tracef(format string, v ...any)  { n.l.Debug(fmt.Sprintf(format, v...)) }
