package simparty

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"mpcrelay/client"
	"mpcrelay/relay"
)

// roundTimeout is generous: the machine is shared and ECDSA rounds are heavy under -race.
const roundTimeout = 90 * time.Second

func startRelay(t *testing.T, compat bool) string {
	t.Helper()
	cfg := relay.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.Compat = compat
	inst, err := relay.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = inst.Shutdown(ctx)
	})
	return inst.URL()
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// messageLog records every Session.message sent, through the Progress hook.
type messageLog struct {
	mu   sync.Mutex
	msgs []Progress
}

func (l *messageLog) hook(p Progress) {
	if p.Phase != PhaseMessage {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, p)
}

// checkRouting asserts that both kinds of tss-lib message went through and that each carried the
// broadcast flag its routing implies (§4.7): a wrong flag would hang tss-lib without an error.
func (l *messageLog) checkRouting(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var broadcast, p2p int
	for _, m := range l.msgs {
		if m.Round == introRound {
			continue
		}
		var b tssBody
		if err := json.Unmarshal(m.Body, &b); err != nil {
			t.Fatalf("message body %s: %v", m.Body, err)
		}
		if m.Size != len(m.Body) || b.Sender != m.Party || len(b.Wire) == 0 {
			t.Errorf("Expected: size = body length, body sender = %d, wire bytes; Actual: size %d of %d, sender %d, %d wire bytes",
				m.Party, m.Size, len(m.Body), b.Sender, len(b.Wire))
		}
		switch {
		case m.Receiver == nil && b.Broadcast:
			broadcast++
		case m.Receiver != nil && !b.Broadcast && *m.Receiver != m.Party:
			p2p++
		default:
			t.Errorf("Expected: receiver nil ⇔ broadcast flag; Actual: receiver %v, broadcast %t (%s)", m.Receiver, b.Broadcast, b.Type)
		}
	}
	if broadcast == 0 || p2p == 0 {
		t.Errorf("Expected: broadcast and peer-to-peer messages; Actual: %d broadcast, %d peer-to-peer", broadcast, p2p)
	}
}

type keygenFixture struct {
	once   sync.Once
	shares []*Share
	log    messageLog
	err    error
}

var ecdsaFixture keygenFixture

// ecdsaShares runs one ECDSA 2-of-3 keygen through the reference relay, shared by every test
// that needs ECDSA shares (it takes seconds even with pooled pre-params).
func ecdsaShares(t *testing.T) ([]*Share, *messageLog) {
	t.Helper()
	ecdsaFixture.once.Do(func() {
		url := startRelayUntilExit(t)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		ecdsaFixture.shares, ecdsaFixture.err = Keygen(ctx, KeygenConfig{URL: url, Curve: CurveSecp256k1, Threshold: 1, Parties: 3,
			Timeout: roundTimeout, Progress: ecdsaFixture.log.hook})
	})
	if ecdsaFixture.err != nil {
		t.Fatalf("ECDSA keygen 2-of-3 through the reference relay: %v", ecdsaFixture.err)
	}
	return ecdsaFixture.shares, &ecdsaFixture.log
}

// startRelayUntilExit starts a relay that outlives the test that first needs it (shared fixtures).
func startRelayUntilExit(t *testing.T) string {
	cfg := relay.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	inst, err := relay.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return inst.URL()
}

func subsets(shares []*Share, k int) [][]*Share {
	var out [][]*Share
	var pick func(start int, cur []*Share)
	pick = func(start int, cur []*Share) {
		if len(cur) == k {
			out = append(out, append([]*Share(nil), cur...))
			return
		}
		for i := start; i < len(shares); i++ {
			pick(i+1, append(cur, shares[i]))
		}
	}
	pick(0, nil)
	return out
}

func numbersOf(shares []*Share) []uint16 {
	out := make([]uint16, len(shares))
	for i, s := range shares {
		out[i] = s.PartyNumber
	}
	return out
}

// checkKeygen asserts what every keygen must give: n valid shares numbered 1..n, one public key.
func checkKeygen(t *testing.T, shares []*Share, curve Curve, threshold, parties int) {
	t.Helper()
	if len(shares) != parties {
		t.Fatalf("Expected: %d shares; Actual: %d", parties, len(shares))
	}
	for i, s := range shares {
		if err := s.Validate(); err != nil {
			t.Errorf("share %d: %v", i+1, err)
		}
		if int(s.PartyNumber) != i+1 || s.Curve != curve || s.Threshold != threshold || s.Parties != parties {
			t.Errorf("Expected: party %d, %s %d-of-%d; Actual: party %d, %s %d-of-%d", i+1, curve, threshold+1, parties,
				s.PartyNumber, s.Curve, s.Threshold+1, s.Parties)
		}
		if !bytes.Equal(s.PublicKey, shares[0].PublicKey) {
			t.Errorf("Expected: one group key; Actual: %x and %x", shares[0].PublicKey, s.PublicKey)
		}
	}
}

// signAll signs msg with every t+1 subset in both join modes, and checks each signature.
func signAll(t *testing.T, url string, shares []*Share, msg []byte) {
	t.Helper()
	k := shares[0].Threshold + 1
	for _, subset := range subsets(shares, k) {
		for _, mode := range []JoinMode{ModeLoad, ModeSignup} {
			t.Run(fmt.Sprintf("signers=%v/mode=%s", numbersOf(subset), mode), func(t *testing.T) {
				observer := k < shares[0].Parties
				sig, err := Sign(testCtx(t, 5*time.Minute), SignConfig{URL: url, Shares: subset, Message: msg, Mode: mode,
					Timeout: roundTimeout, Observer: observer})
				if err != nil {
					t.Fatal(err)
				}
				checkSignature(t, sig, shares[0], msg, numbersOf(subset))
				if observer && !sig.ObserverNotified {
					t.Error("Expected: the member that did not sign received notifySigned (§4.10); Actual: not reported")
				}
			})
		}
	}
}

func checkSignature(t *testing.T, sig *Signature, share *Share, msg []byte, signers []uint16) {
	t.Helper()
	if !sig.Verified || len(sig.Signature) != 64 || !bytes.Equal(sig.Message, msg) || !bytes.Equal(sig.PublicKey, share.PublicKey) ||
		fmt.Sprint(sig.Signers) != fmt.Sprint(signers) {
		t.Fatalf("Expected: verified 64-byte signature of %x by %v under %x; Actual: %+v", msg, signers, share.PublicKey, sig)
	}
	if err := Verify(sig); err != nil {
		t.Fatalf("Expected: signature verifies; Actual: %v", err)
	}
	// Tamper check: the verifier must be able to say no.
	bad := *sig
	bad.Message = append([]byte(nil), msg...)
	bad.Message[len(bad.Message)-1] ^= 1
	if Verify(&bad) == nil {
		t.Fatal("Expected: a signature of another message fails to verify; Actual: it verified")
	}
}

func TestECDSAKeygenAndSign2of3(t *testing.T) {
	shares, log := ecdsaShares(t)
	checkKeygen(t, shares, CurveSecp256k1, 1, 3)
	log.checkRouting(t)
	url := startRelay(t, false)
	msg := bytes.Repeat([]byte{0xab}, 32)
	signAll(t, url, shares, msg)
}

func TestEdDSAKeygenAndSign2of3(t *testing.T) {
	url := startRelay(t, false)
	var log messageLog
	shares, err := Keygen(testCtx(t, time.Minute), KeygenConfig{URL: url, Curve: CurveEd25519, Threshold: 1, Parties: 3,
		Timeout: roundTimeout, Progress: log.hook})
	if err != nil {
		t.Fatal(err)
	}
	checkKeygen(t, shares, CurveEd25519, 1, 3)
	if len(shares[0].PublicKey) != 32 {
		t.Fatalf("Expected: 32-byte RFC 8032 public key; Actual: %d bytes", len(shares[0].PublicKey))
	}
	signAll(t, url, shares, []byte("message for a 2-of-3 EdDSA key"))
}

func TestEdDSAKeygenAndSign3of5(t *testing.T) {
	url := startRelay(t, false)
	shares, err := Keygen(testCtx(t, time.Minute), KeygenConfig{URL: url, Curve: CurveEd25519, Threshold: 2, Parties: 5, Timeout: roundTimeout})
	if err != nil {
		t.Fatal(err)
	}
	checkKeygen(t, shares, CurveEd25519, 2, 5)
	msg := []byte("3-of-5")
	for _, subset := range [][]*Share{{shares[0], shares[2], shares[4]}, {shares[1], shares[3], shares[4]}} {
		for _, mode := range []JoinMode{ModeLoad, ModeSignup} {
			sig, err := Sign(testCtx(t, time.Minute), SignConfig{URL: url, Shares: subset, Message: msg, Mode: mode, Timeout: roundTimeout, Observer: true})
			if err != nil {
				t.Fatalf("signers %v, %s: %v", numbersOf(subset), mode, err)
			}
			checkSignature(t, sig, shares[0], msg, numbersOf(subset))
		}
	}
}

// Leading zero bytes are part of the message: EdDSA hashes them, an ECDSA digest keeps its 32 bytes.
func TestSignMessageWithLeadingZeros(t *testing.T) {
	url := startRelay(t, false)
	t.Run("ed25519", func(t *testing.T) {
		shares, err := Keygen(testCtx(t, time.Minute), KeygenConfig{URL: url, Curve: CurveEd25519, Threshold: 1, Parties: 3, Timeout: roundTimeout})
		if err != nil {
			t.Fatal(err)
		}
		msg := []byte{0, 0, 0, 'z', 'e', 'r', 'o'}
		sig, err := Sign(testCtx(t, time.Minute), SignConfig{URL: url, Shares: shares[:2], Message: msg, Timeout: roundTimeout})
		if err != nil {
			t.Fatal(err)
		}
		checkSignature(t, sig, shares[0], msg, []uint16{1, 2})
	})
	t.Run("secp256k1", func(t *testing.T) {
		shares, _ := ecdsaShares(t)
		msg := append([]byte{0, 0}, bytes.Repeat([]byte{0x5a}, 30)...)
		sig, err := Sign(testCtx(t, 2*time.Minute), SignConfig{URL: url, Shares: shares[1:], Message: msg, Timeout: roundTimeout})
		if err != nil {
			t.Fatal(err)
		}
		checkSignature(t, sig, shares[0], msg, []uint16{2, 3})
	})
}

// §7 / issue: a party that disconnects mid-keygen makes the others fail within the timeout, with an
// error that names the round and the parties still awaited (or the relay's refusal to route to it).
func TestKeygenPartyDisconnects(t *testing.T) {
	for _, compat := range []bool{false, true} {
		t.Run(fmt.Sprintf("compat=%t", compat), func(t *testing.T) {
			url := startRelay(t, compat)
			const timeout = 5 * time.Second // room for a loaded machine under -race
			start := time.Now()
			_, err := Keygen(testCtx(t, time.Minute), KeygenConfig{URL: url, Curve: CurveEd25519, Threshold: 1, Parties: 3,
				Timeout: timeout, Drop: &Drop{Party: 3, AfterRound: 1}})
			checkDropped(t, err, time.Since(start), timeout, compat)
		})
	}
}

// checkDropped: party 3 left after round 1; parties 1 and 2 must fail in round 2 within the
// timeout. Either they wait for party 3 until the timeout (the relay keeps its number, as the
// original does, §6.1 COMPAT), or the relay refuses to route to a party that has left (3, or 1 or 2
// once that one has failed in turn).
func checkDropped(t *testing.T, err error, elapsed, timeout time.Duration, mustStall bool) {
	t.Helper()
	var fails Failures
	if !errors.As(err, &fails) {
		t.Fatalf("Expected: Failures; Actual: %v", err)
	}
	if elapsed > 3*timeout {
		t.Errorf("Expected: failure within the timeout (%s); Actual: after %s", timeout, elapsed)
	}
	got := map[uint16]*PartyError{}
	for _, f := range fails {
		got[f.Party] = f
	}
	if f := got[3]; f == nil || !errors.Is(f, ErrDropped) {
		t.Errorf("Expected: party 3 dropped; Actual: %v", got[3])
	}
	for _, n := range []uint16{1, 2} {
		f := got[n]
		if f == nil {
			t.Fatalf("Expected: party %d fails; Actual: it did not (%v)", n, err)
		}
		var rpcErr *client.RPCError
		// With a strict relay a peer may have failed in turn and left, so it may be awaited too.
		stalled := errors.Is(f, ErrNoProgress) && strings.Contains(f.Error(), "round 2") && slices.Contains(f.Waiting, 3) &&
			(!mustStall || fmt.Sprint(f.Waiting) == "[3]" && strings.Contains(f.Error(), "waiting for party 3"))
		refused := !mustStall && errors.As(f, &rpcErr) && strings.Contains(rpcErr.Message, "receiver")
		if f.Stage != PhaseRound || f.Round != 2 || (!stalled && !refused) {
			t.Errorf("Expected: party %d fails in round 2 waiting for party 3 (or refused by the relay); Actual: %v", n, f)
		}
		t.Log(f)
	}
}

func TestSignWithSharesOfAnotherKeyFails(t *testing.T) {
	url := startRelay(t, false)
	ctx := testCtx(t, time.Minute)
	a, err := Keygen(ctx, KeygenConfig{URL: url, Curve: CurveEd25519, Threshold: 1, Parties: 3, Timeout: roundTimeout})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Keygen(ctx, KeygenConfig{URL: url, Curve: CurveEd25519, Threshold: 1, Parties: 3, Timeout: roundTimeout})
	if err != nil {
		t.Fatal(err)
	}
	mixed := []*Share{a[0], b[1]}
	msg := []byte("mixed")
	t.Run("checked before connecting", func(t *testing.T) {
		_, err := Sign(ctx, SignConfig{URL: url, Shares: mixed, Message: msg})
		if err == nil || !strings.Contains(err.Error(), "shares disagree") {
			t.Fatalf("Expected: shares disagree error; Actual: %v", err)
		}
	})
	// The signers themselves find out when each only knows its own share (signup mode exchanges keys).
	t.Run("signers find out in round 0", func(t *testing.T) {
		cfg := SignConfig{URL: url, Message: msg, Mode: ModeSignup, Timeout: 5 * time.Second, Label: "mixed", Shares: mixed}
		cfg.Timeout = 5 * time.Second
		_, err := signRelay(ctx, cfg, signPlan{shares: mixed, messages: [][]byte{msg, msg}})
		var fails Failures
		if !errors.As(err, &fails) || len(fails) != 2 {
			t.Fatalf("Expected: both signers fail; Actual: %v", err)
		}
		for _, f := range fails {
			if !strings.Contains(f.Error(), "holds a share of key") || f.Round != introRound {
				t.Errorf("Expected: round 0 names the other key; Actual: %v", f)
			}
		}
	})
	t.Run("signers asked to sign different messages", func(t *testing.T) {
		cfg := SignConfig{URL: url, Message: msg, Mode: ModeLoad, Timeout: 3 * time.Second, Label: "differ", Shares: a[:2]}
		_, err := signRelay(ctx, cfg, signPlan{shares: a[:2], messages: [][]byte{msg, []byte("other")}})
		var fails Failures
		if !errors.As(err, &fails) {
			t.Fatalf("Expected: Failures; Actual: %v", err)
		}
		if !strings.Contains(fails.Error(), "asks to sign") {
			t.Errorf("Expected: a signer refuses the session's message; Actual: %v", err)
		}
	})
}

// The same ECDSA flow against a relay in compat mode (the original's behaviour at every COMPAT point).
func TestECDSAAgainstCompatRelay(t *testing.T) {
	url := startRelay(t, true)
	ctx := testCtx(t, 5*time.Minute)
	shares, err := Keygen(ctx, KeygenConfig{URL: url, Curve: CurveSecp256k1, Threshold: 1, Parties: 3, Timeout: roundTimeout, PoolOffset: 3})
	if err != nil {
		t.Fatal(err)
	}
	checkKeygen(t, shares, CurveSecp256k1, 1, 3)
	msg := bytes.Repeat([]byte{0x42}, 32)
	for _, mode := range []JoinMode{ModeLoad, ModeSignup} {
		sig, err := Sign(ctx, SignConfig{URL: url, Shares: []*Share{shares[0], shares[2]}, Message: msg, Mode: mode, Timeout: roundTimeout, Observer: true})
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		checkSignature(t, sig, shares[0], msg, []uint16{1, 3})
	}
}

// Cancelling the context mid-keygen ends every party promptly, and none of their goroutines (nor
// their connections' ones on either side) is left behind.
func TestKeygenCancelledMidway(t *testing.T) {
	url := startRelay(t, false)
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	start := time.Now()
	_, err := Keygen(ctx, KeygenConfig{URL: url, Curve: CurveEd25519, Threshold: 1, Parties: 3, Timeout: time.Minute,
		Progress: func(p Progress) {
			if p.Phase == PhaseRound && p.Round == 2 {
				once.Do(cancel)
			}
		}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Expected: context.Canceled; Actual: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Expected: prompt return; Actual: %s", d)
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Errorf("Expected: no goroutine left; Actual: %d goroutines, %d before\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

// A signer that disconnects mid-signing: the other signer fails within the timeout, naming the round.
func TestSignSignerDisconnects(t *testing.T) {
	url := startRelay(t, true) // compat keeps the departed party's number: the peer stalls
	ctx := testCtx(t, time.Minute)
	shares, err := Keygen(ctx, KeygenConfig{URL: url, Curve: CurveEd25519, Threshold: 1, Parties: 3, Timeout: roundTimeout})
	if err != nil {
		t.Fatal(err)
	}
	const timeout = 5 * time.Second // room for a loaded machine under -race
	start := time.Now()
	_, err = Sign(ctx, SignConfig{URL: url, Shares: shares[1:], Message: []byte("m"), Timeout: timeout, Observer: true,
		Drop: &Drop{Party: 3, AfterRound: 1}})
	var fails Failures
	if !errors.As(err, &fails) || len(fails) != 3 {
		t.Fatalf("Expected: both signers and the observer fail; Actual: %v", err)
	}
	if !strings.HasSuffix(err.Error(), "1 other parties stopped") {
		t.Errorf("Expected: the observer counted as stopped, not listed; Actual: %v", err)
	}
	if d := time.Since(start); d > 3*timeout {
		t.Errorf("Expected: failure within the timeout; Actual: after %s", d)
	}
	for _, f := range fails {
		switch f.Party {
		case 3:
			if !errors.Is(f, ErrDropped) {
				t.Errorf("Expected: party 3 dropped; Actual: %v", f)
			}
		case 2:
			if !errors.Is(f, ErrNoProgress) || f.Round != 2 || fmt.Sprint(f.Waiting) != "[3]" {
				t.Errorf("Expected: party 2 stalls in round 2 waiting for 3; Actual: %v", f)
			}
		case 0:
			if !errors.Is(f, errAborted) {
				t.Errorf("Expected: the observer stops with the signers; Actual: %v", f)
			}
		default:
			t.Errorf("unexpected failure %v", f)
		}
	}
}
