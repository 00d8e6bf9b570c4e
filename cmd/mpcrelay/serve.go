package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"mpcrelay/relay"
	"mpcrelay/relay/cluster"
)

func init() { subcommands = append(subcommands, newServeCmd) }

func newServeCmd() *cobra.Command {
	cfg := relay.DefaultConfig()
	var logFormat, logLevel string
	var natsEmbedded bool
	var natsEmbeddedAddr string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the reference relay (ws://127.0.0.1:3030/mpc by default)",
		Long: "Runs the reference relay of the mpc-websocket protocol. By default it takes the strict\n" +
			"reading of every choice PROTOCOL.md leaves open; --compat behaves exactly like the original\n" +
			"mpc-websocket server in every COMPAT point. Besides the WebSocket path it serves /healthz\n" +
			"and Prometheus metrics on /metrics. SIGINT or SIGTERM shuts it down gracefully: queued frames\n" +
			"are flushed, every connection gets close frame 1001, and the drain is bounded by --drain-timeout.\n" +
			"Limits take 0 for their default and a negative value for none.\n\n" +
			"Cluster mode: several serve processes given the same --nats and --cluster-name behave as\n" +
			"one relay for clients on any of them (the node where a group is created owns it; requests\n" +
			"on it from other nodes are forwarded over NATS). --nats-embedded runs a NATS server inside\n" +
			"this process for the others to use (or run `mpcrelay nats`).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(logFormat, logLevel)
			if err != nil {
				return err
			}
			cfg.Logger = logger
			if err := checkClusterFlags(cmd, cfg.Cluster.URL, natsEmbedded); err != nil {
				return err
			}
			if natsEmbedded {
				ns, err := cluster.StartNATS(cluster.ServerConfig{Addr: natsEmbeddedAddr, Logger: logger.With("component", "nats-server")})
				if err != nil {
					return err
				}
				defer ns.Shutdown()
				fmt.Fprintf(os.Stderr, "mpcrelay: embedded NATS listening on %s\n", ns.ClientURL())
				if cfg.Cluster.URL == "" {
					cfg.Cluster.URL = ns.ClientURL()
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			inst, err := relay.Start(ctx, cfg)
			if err != nil {
				return err
			}
			mode := ""
			if cfg.Cluster.URL != "" {
				mode = fmt.Sprintf(", cluster %s over NATS %s", cfg.Cluster.Name, cfg.Cluster.URL)
			}
			fmt.Fprintf(os.Stderr, "mpcrelay: relay listening on %s (health %s/healthz, metrics %s/metrics%s)\n",
				inst.URL(), httpBase(inst), httpBase(inst), mode)
			<-ctx.Done()
			stop() // a second signal now kills the process the default way
			logger.Info("signal received, shutting down", "drain_timeout", inst.Server().Config().DrainTimeout)
			sctx, cancel := context.WithTimeout(context.Background(), inst.Server().Config().DrainTimeout+2*time.Second)
			defer cancel()
			if err := inst.Shutdown(sctx); err != nil {
				return fmt.Errorf("shutdown: %w", err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen address (host:port; port 0 picks a free one)")
	f.StringVar(&cfg.Path, "path", cfg.Path, "WebSocket path")
	f.BoolVar(&cfg.Compat, "compat", false, "behave exactly like the original mpc-websocket in every COMPAT point of PROTOCOL.md")
	f.Int64Var(&cfg.MaxFrameBytes, "max-frame-bytes", cfg.MaxFrameBytes, "largest frame accepted (at least 1 MiB)")
	f.IntVar(&cfg.SendQueue, "send-queue", cfg.SendQueue, "outbound frames queued per connection (also bounded to 4×max-frame-bytes bytes); past it the client is dropped as slow")
	f.DurationVar(&cfg.PingInterval, "ping-interval", cfg.PingInterval, "keepalive ping period (negative: no pings)")
	f.DurationVar(&cfg.PongWait, "pong-wait", cfg.PongWait, "read deadline: a connection silent this long (no frame, no pong) is closed")
	f.DurationVar(&cfg.WriteWait, "write-wait", cfg.WriteWait, "deadline of one frame write")
	f.IntVar(&cfg.MaxGroupsPerConn, "max-groups-per-conn", cfg.MaxGroupsPerConn, "groups one connection may belong to (negative: no limit)")
	f.IntVar(&cfg.MaxSessions, "max-sessions", cfg.MaxSessions, "sessions open in the relay (negative: no limit)")
	f.DurationVar(&cfg.IdleExpiry, "idle-expiry", cfg.IdleExpiry, "delete groups and sessions untouched this long (negative: never)")
	f.DurationVar(&cfg.DrainTimeout, "drain-timeout", cfg.DrainTimeout, "bound of the graceful shutdown")
	f.StringSliceVar(&cfg.AllowedOrigins, "allowed-origins", nil, "Origin values accepted on upgrade, comma-separated (empty: any, as the original)")
	f.StringVar(&cfg.StaticDir, "static", "", "serve this directory at / beside the relay, with the COOP/COEP headers of the original")
	f.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate file (PEM); with --tls-key serves wss://")
	f.StringVar(&cfg.TLSKey, "tls-key", "", "TLS key file (PEM)")
	f.StringVar(&cfg.Cluster.URL, "nats", "", "cluster mode: NATS server URL(s), comma-separated (nats://host:4222, tls://...)")
	f.StringVar(&cfg.Cluster.Name, "cluster-name", "mpcrelay", "cluster mode: the relay's name; its NATS subjects start with mpcrelay.NAME, so clusters sharing a NATS never mix")
	f.StringVar(&cfg.Cluster.CredsFile, "nats-creds", "", "cluster mode: NATS credentials file (JWT and nkey seed)")
	f.StringVar(&cfg.Cluster.TLSCAFile, "nats-tls-ca", "", "cluster mode: CA file that signed the NATS server's certificate")
	f.StringVar(&cfg.Cluster.TLSCertFile, "nats-tls-cert", "", "cluster mode: client certificate for NATS (with --nats-tls-key)")
	f.StringVar(&cfg.Cluster.TLSKeyFile, "nats-tls-key", "", "cluster mode: client key for NATS")
	f.DurationVar(&cfg.Cluster.Heartbeat, "cluster-heartbeat", cluster.DefaultHeartbeat, "cluster mode: how often this node tells the others it is alive")
	f.DurationVar(&cfg.Cluster.DeadAfter, "cluster-dead-after", cluster.DefaultDeadAfter, "cluster mode: a node silent this long is dead; its connections leave their groups (§6.1) and its groups close")
	f.BoolVar(&natsEmbedded, "nats-embedded", false, "cluster mode: run a NATS server in this process (at --nats-embedded-addr) and use it unless --nats is given")
	f.StringVar(&natsEmbeddedAddr, "nats-embedded-addr", "127.0.0.1:4222", "listen address of --nats-embedded (other nodes: --nats nats://THIS_ADDR)")
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
}

// checkClusterFlags refuses cluster options without a cluster to apply them to.
func checkClusterFlags(cmd *cobra.Command, natsURL string, embedded bool) error {
	if natsURL != "" || embedded {
		return nil
	}
	for _, name := range []string{"cluster-name", "nats-creds", "nats-tls-ca", "nats-tls-cert", "nats-tls-key", "cluster-heartbeat", "cluster-dead-after", "nats-embedded-addr"} {
		if cmd.Flags().Changed(name) {
			return fmt.Errorf("--%s needs --nats URL (or --nats-embedded)", name)
		}
	}
	return nil
}

func httpBase(inst *relay.Instance) string {
	scheme := "http"
	if strings.HasPrefix(inst.URL(), "wss:") {
		scheme = "https"
	}
	return scheme + "://" + inst.Addr()
}

// newLogger builds the slog logger of --log-format and --log-level, writing to stderr.
func newLogger(format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}
