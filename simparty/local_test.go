package simparty

import (
	"context"
	"errors"
	"os"
	"runtime"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if err := SetTSSLogLevel("error"); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

func TestLocalEdDSAKeygenAndSign(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	shares, err := KeygenLocal(ctx, KeygenConfig{Curve: CurveEd25519, Threshold: 1, Parties: 3, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []JoinMode{ModeLoad, ModeSignup} {
		sig, err := SignLocal(ctx, SignConfig{Shares: shares[1:], Message: []byte("\x00\x00hello"), Mode: mode, Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(mode, err)
		}
		t.Logf("%s %x", mode, sig.Signature)
	}
}

// On the in-memory router a dropped party's peers always stall: the error names the round and the
// party awaited, within the timeout, and no goroutine of the parties is left behind.
func TestLocalKeygenDropStallsOthers(t *testing.T) {
	before := runtime.NumGoroutine()
	const timeout = time.Second
	start := time.Now()
	_, err := KeygenLocal(context.Background(), KeygenConfig{Curve: CurveEd25519, Threshold: 1, Parties: 3, Timeout: timeout,
		Drop: &Drop{Party: 3, AfterRound: 1}})
	checkDropped(t, err, time.Since(start), timeout, true)
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("Expected: no party goroutine left; Actual: %d goroutines, %d before", n, before)
	}
}

func TestLocalKeygenHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := KeygenLocal(ctx, KeygenConfig{Curve: CurveEd25519, Threshold: 1, Parties: 3})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Expected: context.Canceled; Actual: %v", err)
	}
}
