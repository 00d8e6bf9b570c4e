package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"mpcrelay/simparty"
)

func init() { subcommands = append(subcommands, newSignCmd) }

func newSignCmd() *cobra.Command {
	var (
		url, dir, message, signerList, modeName string
		asJSON, observe                         bool
		timeout                                 time.Duration
	)
	cmd := &cobra.Command{
		Use:   "sign --shares DIR --message HEX [--signers 1,3] [--mode load|signup] [--json] [--url URL]",
		Short: "Sign with t+1 simulated parties' key shares through a relay (test keys only)",
		Long: "Runs the chosen t+1 parties (default: the first t+1 share files) of a tss-lib signing in this\n" +
			"process, each on its own connection to the relay. For secp256k1 --message is the 32-byte\n" +
			"digest to sign, for ed25519 the message itself. The signature is verified before it is\n" +
			"printed. With --json the last line of stdout is one JSON object:\n" +
			`{"curve","public_key","message","signature","signers","verified"}` + "\n" +
			"Progress goes to stderr. Without --url it starts the embedded reference relay.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return fmt.Errorf("--shares DIR is required")
			}
			mode, err := simparty.ParseJoinMode(modeName)
			if err != nil {
				return fmt.Errorf("--mode: %w", err)
			}
			msg, err := hex.DecodeString(strings.TrimPrefix(strings.TrimSpace(message), "0x"))
			if err != nil {
				return fmt.Errorf("--message must be hex: %w", err)
			}
			all, err := simparty.LoadShares(dir)
			if err != nil {
				return fmt.Errorf("--shares: %w", err)
			}
			curve, need := all[0].Curve, all[0].Threshold+1
			switch {
			case curve == simparty.CurveSecp256k1 && len(msg) != 32:
				return fmt.Errorf("--message: secp256k1 signs a 32-byte digest, got %d bytes", len(msg))
			case len(msg) == 0:
				return fmt.Errorf("--message is empty")
			}
			shares, err := pickSigners(all, signerList, need)
			if err != nil {
				return err
			}
			_ = simparty.SetTSSLogLevel("error")
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			u, err := relayURL(ctx, url, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			start := time.Now()
			sig, err := simparty.Sign(ctx, simparty.SignConfig{URL: u, Shares: shares, Message: msg, Mode: mode,
				Timeout: timeout, Observer: observe, Progress: progressPrinter(cmd.ErrOrStderr())})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "sign: %s signature by parties %v verified in %s\n", curve, sig.Signers, time.Since(start).Round(time.Millisecond))
			w := cmd.OutOrStdout()
			if asJSON {
				v := sig.JSON()
				v.Message = strings.TrimSpace(message) // the hex as given
				line, err := json.Marshal(v)
				if err != nil {
					return err
				}
				fmt.Fprintln(w, string(line))
				return nil
			}
			fmt.Fprintf(w, "public_key %x\nsignature %x\nsigners %v\nverified %t\n", sig.PublicKey, sig.Signature, sig.Signers, sig.Verified)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&url, "url", "", "relay WebSocket URL (default: start the embedded reference relay)")
	f.StringVar(&dir, "shares", "", "directory of key-share files written by mpcrelay keygen")
	f.StringVar(&message, "message", "", "hex: the 32-byte digest (secp256k1) or the message (ed25519)")
	f.StringVar(&signerList, "signers", "", "comma-separated keygen party numbers of the t+1 signers (default: the first t+1)")
	f.StringVar(&modeName, "mode", string(simparty.ModeLoad), "how signers join: load (Session.load) or signup (Session.signup + index exchange)")
	f.BoolVar(&asJSON, "json", false, "print the result as one JSON object on the last line of stdout")
	f.BoolVar(&observe, "observe", false, "add a group member that does not sign and must receive notifySigned")
	f.DurationVar(&timeout, "timeout", simparty.DefaultTimeout, "fail a round that makes no progress for this long")
	return cmd
}

// pickSigners returns the shares named in list ("1,3"), or the first need shares.
func pickSigners(all []*simparty.Share, list string, need int) ([]*simparty.Share, error) {
	if list == "" {
		if len(all) < need {
			return nil, fmt.Errorf("--shares: a %d-of-%d key needs %d shares, the directory holds %d", need, all[0].Parties, need, len(all))
		}
		return all[:need], nil
	}
	byNumber := map[uint16]*simparty.Share{}
	for _, s := range all {
		byNumber[s.PartyNumber] = s
	}
	var picked []*simparty.Share
	seen := map[uint16]bool{}
	for _, field := range strings.Split(list, ",") {
		n, err := strconv.ParseUint(strings.TrimSpace(field), 10, 16)
		if err != nil {
			return nil, fmt.Errorf("--signers: %q is not a party number", field)
		}
		s, ok := byNumber[uint16(n)]
		if !ok {
			return nil, fmt.Errorf("--signers: no key-share file for party %d", n)
		}
		if seen[uint16(n)] {
			return nil, fmt.Errorf("--signers: party %d named twice", n)
		}
		seen[uint16(n)] = true
		picked = append(picked, s)
	}
	if len(picked) != need {
		return nil, fmt.Errorf("--signers: a %d-of-%d key is signed by exactly %d parties, got %d", need, all[0].Parties, need, len(picked))
	}
	return picked, nil
}
