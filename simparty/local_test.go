package simparty

import (
	"context"
	"os"
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
