package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/spf13/cobra"

	"mpcrelay/relay"
	"mpcrelay/simparty"
	"mpcrelay/simparty/preparams"
)

func init() { subcommands = append(subcommands, newKeygenCmd) }

func newKeygenCmd() *cobra.Command {
	var (
		url, curveName, out, preDir string
		parties, threshold, offset  int
		timeout                     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "keygen --parties N --threshold T --curve secp256k1|ed25519 --out DIR [--url URL]",
		Short: "Run a threshold keygen with N simulated parties through a relay (test keys only)",
		Long: "Runs all N parties of a tss-lib keygen in this process, each on its own connection to the\n" +
			"relay, and writes one key-share file per party (DIR/party-N.json). Prints the group public\n" +
			"key (and, for secp256k1, its Ethereum address). Without --url it starts the embedded\n" +
			"reference relay. Simulated parties and pooled pre-params are for testing relays, never for\n" +
			"keys that hold value.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			curve, err := simparty.ParseCurve(curveName)
			if err != nil {
				return err
			}
			if out == "" {
				return fmt.Errorf("--out DIR is required")
			}
			cfg := simparty.KeygenConfig{Curve: curve, Threshold: threshold, Parties: parties, PoolOffset: offset,
				Timeout: timeout, Progress: progressPrinter(cmd.ErrOrStderr())}
			if parties < 2 || threshold < 1 || threshold >= parties {
				return fmt.Errorf("need 0 < --threshold < --parties, got threshold %d, parties %d", threshold, parties)
			}
			if preDir != "" {
				if cfg.PreParams, err = preparams.Load(preDir); err != nil {
					return fmt.Errorf("--preparams %s: %w", preDir, err)
				}
			}
			_ = simparty.SetTSSLogLevel("error")
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			cfg.URL, err = relayURL(ctx, url, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			start := time.Now()
			shares, err := simparty.Keygen(ctx, cfg)
			if err != nil {
				return err
			}
			if err := simparty.WriteShares(out, shares); err != nil {
				return fmt.Errorf("write key shares: %w", err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "keygen: %d-of-%d %s done in %s, %d key-share files in %s\n",
				threshold+1, parties, curve, time.Since(start).Round(time.Millisecond), len(shares), out)
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "public_key %s\n", hex.EncodeToString(shares[0].PublicKey))
			if curve == simparty.CurveSecp256k1 {
				addr, err := simparty.EthereumAddress(shares[0].PublicKey)
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "address %s\n", addr)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&url, "url", "", "relay WebSocket URL (default: start the embedded reference relay)")
	f.IntVar(&parties, "parties", 3, "number of parties n")
	f.IntVar(&threshold, "threshold", 1, "threshold t: any t+1 parties sign")
	f.StringVar(&curveName, "curve", "secp256k1", "secp256k1 (ECDSA) or ed25519 (EdDSA)")
	f.StringVar(&out, "out", "", "directory for the key-share files")
	f.StringVar(&preDir, "preparams", "", "directory of pre-param sets (default: the embedded test pool)")
	f.IntVar(&offset, "pool-offset", 0, "first pre-param set to use")
	f.DurationVar(&timeout, "timeout", simparty.DefaultTimeout, "fail a round that makes no progress for this long")
	return cmd
}

// relayURL returns url, or starts the embedded reference relay (stopped when ctx ends) and
// returns its URL.
func relayURL(ctx context.Context, url string, log io.Writer) (string, error) {
	if url != "" {
		return url, nil
	}
	cfg := relay.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	inst, err := relay.Start(ctx, cfg)
	if err != nil {
		return "", fmt.Errorf("start the embedded relay: %w", err)
	}
	fmt.Fprintf(log, "embedded reference relay at %s\n", inst.URL())
	return inst.URL(), nil
}

// progressPrinter writes one stderr line per party and phase (messages are not listed).
func progressPrinter(w io.Writer) func(simparty.Progress) {
	start := time.Now()
	return func(p simparty.Progress) {
		at := time.Since(start).Round(time.Millisecond)
		switch p.Phase {
		case simparty.PhaseMessage:
		case simparty.PhaseRound:
			fmt.Fprintf(w, "%8s %s party %d: round %d\n", at, p.Kind, p.Party, p.Round)
		case simparty.PhaseConnect:
			fmt.Fprintf(w, "%8s %s: a party joined the group\n", at, p.Kind)
		default:
			fmt.Fprintf(w, "%8s %s party %d: %s\n", at, p.Kind, p.Party, p.Phase)
		}
	}
}
