package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/spf13/cobra"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestServeAnswersHealthzAndStopsOnCancel(t *testing.T) {
	addr := freeAddr(t)
	root := newRoot()
	root.SetArgs([]string{"serve", "--addr", addr, "--path", "/relay", "--compat", "--log-format", "json", "--log-level", "warn",
		"--max-frame-bytes", "2097152", "--send-queue", "32", "--ping-interval", "1s", "--pong-wait", "3s",
		"--max-groups-per-conn", "4", "--max-sessions", "-1", "--idle-expiry", "10m", "--allowed-origins", "https://a.example,https://b.example"})
	stop := runUntilCancel(t, root)
	waitHealthz(t, addr, "")
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/relay", http.Header{"Origin": {"https://b.example"}})
	if err != nil {
		t.Fatalf("Expected: the relay on --path with an allowed origin / Actual: %v", err)
	}
	defer ws.Close()
	if _, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/relay", http.Header{"Origin": {"https://c.example"}}); err == nil {
		t.Fatal("Expected: other origins refused / Actual: accepted")
	}

	stop() // as SIGINT/SIGTERM would
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := ws.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("Expected: close 1001 / Actual: %v", err)
	}
}

func TestServeRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--log-format", "xml"},
		{"serve", "--log-level", "loud"},
		{"serve", "--max-frame-bytes", "1000"},
		{"serve", "--tls-cert", "only-cert.pem"},
		{"serve", "--cluster-name", "x"},                                   // cluster flags without --nats
		{"serve", "--nats", "nats://127.0.0.1:1", "--cluster-name", "a.b"}, // not a subject token
		{"serve", "--nats", "nats://127.0.0.1:1"},                          // NATS unreachable at start
	} {
		root := newRoot()
		root.SetArgs(append(args, "--addr", "127.0.0.1:0"))
		err := root.ExecuteContext(context.Background())
		if err == nil {
			t.Errorf("%s: Expected: an error / Actual: none", strings.Join(args, " "))
		}
	}
}

func TestServeNATSEmbeddedReportsTheClusterOnHealthz(t *testing.T) {
	addr := freeAddr(t)
	root := newRoot()
	root.SetArgs([]string{"serve", "--addr", addr, "--nats-embedded", "--nats-embedded-addr", "127.0.0.1:0", "--cluster-name", "solo", "--log-level", "warn"})
	stop := runUntilCancel(t, root)
	waitHealthz(t, addr, "cluster solo node")
	stop()
}

// runUntilCancel executes root in the background; the returned stop cancels it (as SIGINT or
// SIGTERM would) and checks that it returns cleanly.
func runUntilCancel(t *testing.T, root *cobra.Command) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	return func() {
		t.Helper()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Expected: clean shutdown / Actual: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Expected: the command returns after cancel / Actual: still running")
		}
	}
}

// waitHealthz polls /healthz at addr until it answers 200 with a body containing want.
func waitHealthz(t *testing.T, addr, want string) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			last = err.Error()
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && strings.Contains(string(b), want) {
			return
		}
		last = fmt.Sprintf("%d %q", resp.StatusCode, b)
	}
	t.Fatalf("Expected: /healthz 200 containing %q / Actual: %s", want, last)
}
