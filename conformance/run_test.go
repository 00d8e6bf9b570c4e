package conformance

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// A relay that answers the preflight dial and then refuses every connection: its cases end in
// error (the harness could not run them), not fail, and the run's exit code is 2.
func TestDialFailuresAreErrorsNotFailures(t *testing.T) {
	var dials atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if dials.Add(1) > 1 {
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
			return
		}
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err == nil {
			ws.Close()
		}
	}))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/mpc"
	cases, _ := Select("", []string{"4.1"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := Run(ctx, Options{Targets: []Target{{Name: url, URL: url}}, Cases: cases, Parallel: 2,
		Config: Config{Timeout: time.Second, QuietWindow: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Summary[Error] != len(cases) || rep.Summary[Fail] != 0 {
		t.Fatalf("%d errors and no fail, got %v", len(cases), rep.Summary)
	}
	if !strings.HasPrefix(rep.Cases[0].Detail, "harness: dial") {
		t.Fatalf("the detail names the dial failure: %q", rep.Cases[0].Detail)
	}
	if rep.ExitCode() != 2 {
		t.Fatalf("exit code 2, got %d", rep.ExitCode())
	}
}

func TestUnreachableTargetIsRefusedBeforeRunning(t *testing.T) {
	_, err := Run(context.Background(), Options{Targets: []Target{{Name: "x", URL: "ws://127.0.0.1:1/mpc"}}})
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("ErrUnreachable, got %v", err)
	}
}
