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
	const timeout = 5 * time.Second // 1s was flaky under -race on a loaded machine
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

// A fast peer's messages reach a party before it has built its LocalParty: they wait in its
// inbox and are applied after Start, never dropped (keygen would stall otherwise).
func TestMessagesBeforeLocalPartyAreKept(t *testing.T) {
	router := newMemRouter([]uint16{1, 2, 3})
	var arrivedEarly int
	shares, err := crew(3, func(i int) (*Share, error) {
		self := uint16(i + 1)
		link := router.link(self)
		if self == 3 {
			// Wait until both peers' round-1 broadcasts are queued for party 3.
			deadline := time.Now().Add(10 * time.Second)
			for {
				b := router.inboxes[3]
				b.mu.Lock()
				arrivedEarly = len(b.items)
				b.mu.Unlock()
				if arrivedEarly >= 2 || time.Now().After(deadline) {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		r := &runner{kind: "keygen", roster: keygenRoster(3, self), link: link, timeout: 10 * time.Second}
		return runKeygen(context.Background(), r, CurveEd25519, 1, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	if arrivedEarly < 2 {
		t.Fatalf("Expected: 2 messages queued before party 3 started; Actual: %d", arrivedEarly)
	}
	checkKeygen(t, shares, CurveEd25519, 1, 3)
}
