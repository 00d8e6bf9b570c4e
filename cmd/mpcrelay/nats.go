package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"mpcrelay/relay/cluster"
)

func init() { subcommands = append(subcommands, newNATSCmd) }

func newNATSCmd() *cobra.Command {
	var (
		cfg                 cluster.ServerConfig
		maxPayload          int32
		logFormat, logLevel string
	)
	cmd := &cobra.Command{
		Use:   "nats",
		Short: "Run an embedded NATS server for a relay cluster (serve --nats)",
		Long: "Runs a NATS server (github.com/nats-io/nats-server/v2, inside this binary) for relay\n" +
			"nodes started with `mpcrelay serve --nats nats://HOST:PORT --cluster-name NAME`, so a fresh\n" +
			"machine needs nothing but this repository. Its max_payload (32 MiB) carries the relay's\n" +
			"largest frames. With --cluster-addr and --routes several of them form a NATS cluster.\n" +
			"A standalone nats-server works as well; give it max_payload of at least --max-frame-bytes\n" +
			"of the relays plus 64 KiB.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(logFormat, logLevel)
			if err != nil {
				return err
			}
			cfg.Logger = logger
			cfg.MaxPayload = maxPayload
			if maxPayload < 1<<20 {
				return fmt.Errorf("--max-payload %d: the relay needs at least 1 MiB (§4.7) plus room for its envelope", maxPayload)
			}
			s, err := cluster.StartNATS(cfg)
			if err != nil {
				return err
			}
			defer s.Shutdown()
			fmt.Fprintf(os.Stderr, "mpcrelay: NATS listening on %s", s.ClientURL())
			if r := s.RouteURL(); r != "" {
				fmt.Fprintf(os.Stderr, " (routes on %s)", r)
			}
			fmt.Fprintln(os.Stderr)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			<-ctx.Done()
			logger.Info("signal received, stopping NATS")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Addr, "addr", "127.0.0.1:4222", "client listen address (host:port; port 0 picks a free one)")
	f.StringVar(&cfg.ClusterAddr, "cluster-addr", "", "route listen address for a NATS cluster (host:port); empty: a single server")
	f.StringVar(&cfg.ClusterName, "nats-cluster-name", "mpcrelay", "NATS cluster name shared by the routed servers (not the relay's --cluster-name)")
	f.StringSliceVar(&cfg.Routes, "routes", nil, "route URLs of the other NATS servers (nats-route://host:port), comma-separated")
	f.Int32Var(&maxPayload, "max-payload", cluster.DefaultNATSMaxPayload, "largest NATS message in bytes")
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
}
