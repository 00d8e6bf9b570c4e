package traces

import (
	"context"
	"testing"
	"time"

	"mpcrelay/relay"
	"mpcrelay/scenarios/replay"
)

// The checked-in trace holds real ECDSA and EdDSA keygens and signings, and replays cleanly
// against the reference relay: replay works on a fresh clone.
func TestCheckedInTraceReplays(t *testing.T) {
	tr, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, s := range tr.Sessions {
		kinds[s.Curve+"/"+s.Kind] = true
	}
	for _, want := range []string{"ecdsa/keygen", "ecdsa/sign", "eddsa/keygen", "eddsa/sign"} {
		if !kinds[want] {
			t.Errorf("the checked-in trace has no %s session", want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := relay.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	inst, err := relay.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Shutdown(context.Background())
	res, err := replay.Run(ctx, replay.Config{URL: inst.URL(), Trace: tr, Groups: len(tr.Sessions)})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Clean() || res.SessionsCompleted != int64(len(tr.Sessions)) {
		t.Errorf("Expected: a clean replay of every session\nActual:   %+v", res)
	}
}
