package cluster_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"mpcrelay/relay/cluster"
)

// smallNATS starts a NATS server whose max_payload is 64 KiB (a server of a NATS cluster
// configured with less than the relay's frames need, reached on a reconnect).
func smallNATS(t *testing.T) string {
	t.Helper()
	s, err := cluster.StartNATS(cluster.ServerConfig{Addr: "127.0.0.1:0", MaxPayload: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s.ClientURL()
}

// An event frame that fits NATS's max_payload, for receivers whose list makes the message too
// large, goes out in several messages: every receiver gets it exactly once, none is left out.
func TestDeliverSplitsReceiversToFitMaxPayload(t *testing.T) {
	url := smallNATS(t)
	owner, _ := startNode(t, url)
	home, hh := startNode(t, url)
	waitFor(t, 5*time.Second, "nodes see each other", func() bool { return len(owner.Status().Peers) == 1 })
	frame := []byte(strings.Repeat("f", 60<<10))
	conns := make([]uint64, 5000) // uvarints of 2 bytes: 10 KB of receivers beside 60 KiB of frame
	for i := range conns {
		conns[i] = uint64(200 + i)
	}
	if err := owner.Deliver(home.ID(), conns, frame); err != nil {
		t.Fatalf("deliver of a 60 KiB frame to 5000 receivers through a 64 KiB max_payload: %v, want it split", err)
	}
	waitFor(t, 5*time.Second, "every receiver gets the frame", func() bool {
		got, _, _, _ := hh.snapshot()
		return len(got) >= len(conns)
	})
	time.Sleep(100 * time.Millisecond) // nothing more comes
	got, _, _, _ := hh.snapshot()
	if len(got) != len(conns) {
		t.Fatalf("delivered %d frames, want %d (each receiver once)", len(got), len(conns))
	}
	for i, g := range got {
		if want := fmt.Sprintf("%d:%s", conns[i], frame); g != want {
			t.Fatalf("delivery %d = %.20q…, want receiver %d in order", i, g, conns[i])
		}
	}
}

// A frame that NATS cannot carry at all does not vanish: the receivers' node is told that they
// missed it (Handler.Missed), in order with the owner's other frames, and Deliver says why.
func TestDeliverTooLargeTellsTheReceiversNode(t *testing.T) {
	url := smallNATS(t)
	owner, _ := startNode(t, url)
	home, hh := startNode(t, url)
	waitFor(t, 5*time.Second, "nodes see each other", func() bool { return len(owner.Status().Peers) == 1 })
	if err := owner.Deliver(home.ID(), []uint64{1}, []byte("before")); err != nil {
		t.Fatal(err)
	}
	err := owner.Deliver(home.ID(), []uint64{1, 2, 3}, make([]byte, 100<<10))
	if !errors.Is(err, cluster.ErrTooLarge) {
		t.Fatalf("deliver of 100 KiB through a 64 KiB max_payload: %v, want ErrTooLarge", err)
	}
	if err := owner.Deliver(home.ID(), []uint64{4}, []byte("after")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the frame after", func() bool {
		got, _, _, _ := hh.snapshot()
		return len(got) == 2
	})
	hh.mu.Lock()
	defer hh.mu.Unlock()
	if got := strings.Join(hh.delivered, " "); got != "1:before 4:after" {
		t.Fatalf("delivered %q, want only the frames that fit", got)
	}
	if got := strings.Join(hh.missed, " "); got != "1 2 3" || hh.missedAt != 1 {
		t.Fatalf("missed %q told after %d deliveries, want receivers 1 2 3 told between the two frames", got, hh.missedAt)
	}
}
