package main

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestNATSServesClientsAndStopsOnCancel(t *testing.T) {
	addr := freeAddr(t)
	root := newRoot()
	root.SetArgs([]string{"nats", "--addr", addr, "--log-level", "warn"})
	stop := runUntilCancel(t, root)
	var nc *nats.Conn
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if nc, err = nats.Connect("nats://"+addr, nats.MaxReconnects(0)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Expected: NATS on %s / Actual: %v", addr, err)
		}
	}
	defer nc.Close()
	if got := nc.MaxPayload(); got < 16<<20 {
		t.Fatalf("Expected: max_payload carrying 16 MiB frames / Actual: %d", got)
	}
	stop()
}
