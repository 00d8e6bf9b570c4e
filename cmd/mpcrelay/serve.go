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
)

func init() { subcommands = append(subcommands, newServeCmd) }

func newServeCmd() *cobra.Command {
	cfg := relay.DefaultConfig()
	var logFormat, logLevel string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the reference relay (ws://127.0.0.1:3030/mpc by default)",
		Long: "Runs the reference relay of the mpc-websocket protocol. By default it takes the strict\n" +
			"reading of every choice PROTOCOL.md leaves open; --compat behaves exactly like the original\n" +
			"mpc-websocket server in every COMPAT point. Besides the WebSocket path it serves /healthz\n" +
			"and Prometheus metrics on /metrics. SIGINT or SIGTERM shuts it down gracefully: queued frames\n" +
			"are flushed, every connection gets close frame 1001, and the drain is bounded by --drain-timeout.\n" +
			"Limits take 0 for their default and a negative value for none.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(logFormat, logLevel)
			if err != nil {
				return err
			}
			cfg.Logger = logger
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			inst, err := relay.Start(ctx, cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "mpcrelay: relay listening on %s (health %s/healthz, metrics %s/metrics)\n",
				inst.URL(), httpBase(inst), httpBase(inst))
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
	f.IntVar(&cfg.SendQueue, "send-queue", cfg.SendQueue, "outbound frames queued per connection before a client that stopped reading is dropped")
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
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
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
