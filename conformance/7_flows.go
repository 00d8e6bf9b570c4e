package conformance

import (
	"crypto/sha256"
	"strings"
	"time"

	"mpcrelay/client"
	"mpcrelay/simparty"
)

func init() {
	register("7", "Typical flows",
		// §7: Keygen (n parties) and Sign (t+1 of n): real tss-lib parties through the relay.
		cryptoCase("7/ecdsa-keygen-and-sign", simparty.CurveSecp256k1, simparty.ModeLoad, true,
			"ECDSA (secp256k1, GG18) 2-of-3 keygen and a 2-party signing by simulated parties through the relay produce a valid signature, and the non-signing member learns it via notifySigned."),
		cryptoCase("7/eddsa-keygen-and-sign", simparty.CurveEd25519, simparty.ModeSignup, false,
			"EdDSA (ed25519) 2-of-3 keygen and a 2-party signing by simulated parties through the relay produce a valid signature."),
	)
}

func cryptoCase(id string, curve simparty.Curve, mode simparty.JoinMode, observer bool, req string) *Case {
	return &Case{
		ID: id, Requirement: req, Level: Must, Labels: []string{"crypto", "flows"},
		Run: func(t *T) {
			hook := client.WithFrameHook(func(f client.Frame) {
				dir := "→"
				if f.Dir == client.Received {
					dir = "←"
				}
				t.tr.frame("P", dir, f.Binary, f.Data, f.At)
			})
			round := roundTimeout(curve, t.cfg)
			t.Logf("keygen: %s, threshold 1, 3 parties; a round may go %s without progress", curve, round)
			// On a cluster the parties are spread over the nodes (party i on node i mod n).
			var nodes []string
			if len(t.nodes) > 1 {
				nodes = t.nodes
				t.Logf("parties on nodes: %s", strings.Join(nodes, ", "))
			}
			shares, err := simparty.Keygen(t.ctx, simparty.KeygenConfig{URL: t.url, URLs: nodes, Curve: curve, Threshold: 1, Parties: 3,
				Label: t.Label(), Timeout: round, ClientOptions: []client.Option{hook}})
			if err != nil {
				t.Failf("a 2-of-3 "+string(curve)+" keygen through the relay", "%v", err)
			}
			msg := []byte("mpcrelay conformance " + id)
			if curve == simparty.CurveSecp256k1 {
				d := sha256.Sum256(msg)
				msg = d[:]
			}
			t.Logf("sign with parties 1 and 2 (mode %s, observer %v)", mode, observer)
			sig, err := simparty.Sign(t.ctx, simparty.SignConfig{URL: t.url, URLs: nodes, Shares: shares[:2], Message: msg, Mode: mode,
				Observer: observer, Label: t.Label(), Timeout: round, ClientOptions: []client.Option{hook}})
			if err != nil {
				t.Failf("a signature by parties 1 and 2 through the relay", "%v", err)
			}
			if err := simparty.Verify(sig); err != nil || !sig.Verified {
				t.Failf("a signature that verifies under the group key", "%v (verified %v)", err, sig.Verified)
			}
			if observer && !sig.ObserverNotified {
				t.Failf("the non-signing member receives the signature via notifySigned (§4.10)", "it did not")
			}
			t.Logf("signature %x verified", sig.Signature)
		},
	}
}

// roundTimeout bounds a round without progress: a lost or refused message then fails the case
// in bounded time. EdDSA rounds take milliseconds, so a few response timeouts suffice; an ECDSA
// round proves Paillier statements for seconds (far longer under -race on a loaded machine), so
// it keeps simparty's own bound.
func roundTimeout(curve simparty.Curve, cfg Config) time.Duration {
	if curve == simparty.CurveEd25519 {
		return 6 * cfg.Timeout
	}
	return simparty.DefaultTimeout
}
