package relay_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"mpcrelay/client"
	"mpcrelay/relay"
	"mpcrelay/relay/protocol"
)

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(*relay.Config)
	}{
		{"frame limit below 1 MiB (§4.7)", func(c *relay.Config) { c.MaxFrameBytes = 1000 }},
		{"path without slash", func(c *relay.Config) { c.Path = "mpc" }},
		{"ping not shorter than pong wait", func(c *relay.Config) { c.PingInterval = time.Minute; c.PongWait = time.Second }},
		{"cert without key", func(c *relay.Config) { c.TLSCert = "x.pem" }},
		{"negative send queue", func(c *relay.Config) { c.SendQueue = -1 }},
	} {
		cfg := relay.DefaultConfig()
		tc.cfg(&cfg)
		if _, err := relay.New(cfg); err == nil {
			t.Errorf("%s: Expected: an error / Actual: none", tc.name)
		}
	}
	s, err := relay.New(relay.Config{}) // zero values take the defaults
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	if got := s.Config(); got.Addr != "127.0.0.1:3030" || got.Path != "/mpc" || got.MaxFrameBytes != 16<<20 || got.SendQueue == 0 {
		t.Fatalf("Expected: defaults / Actual: %+v", got)
	}
}

func TestHealthz(t *testing.T) {
	s, err := relay.New(relay.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	get := func() (int, string) {
		resp, err := http.Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(); code != 200 || body != "ok\n" {
		t.Fatalf("Expected: 200 ok / Actual: %d %q", code, body)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(); code != http.StatusServiceUnavailable {
		t.Fatalf("Expected: 503 after shutdown / Actual: %d", code)
	}
}

// Metrics count connections, groups, sessions, frames and bytes by method and event, errors by
// code; each Server has its own registry, so two relays run side by side in one process.
func TestMetricsPerRelay(t *testing.T) {
	one, two := startRelay(t, false), startRelay(t, true)
	g, s, rs := keygenReady(t, one.URL(), 2, 1)
	rs[0].ok(protocol.MethodSessionMessage, broadcast(g, s, 1, `1`), nil)
	rs[1].event(protocol.EventSessionMessage)
	rs[0].fails("No.such", []int{}, protocol.CodeMethodNotFound)
	r2 := dialRaw(t, two.URL())
	createGroup(t, r2, 2, 1)

	for sample, want := range map[string]float64{
		`mpcrelay_connections`: 2,
		`mpcrelay_groups`:      1,
		`mpcrelay_sessions`:    1,
		`mpcrelay_frames_in_total{method="Group.create"}`:    1,
		`mpcrelay_frames_in_total{method="Session.signup"}`:  2,
		`mpcrelay_frames_in_total{method="Session.message"}`: 1,
		`mpcrelay_frames_in_total{method="unknown"}`:         1,
		`mpcrelay_frames_out_total{kind="sessionSignup"}`:    2,
		`mpcrelay_frames_out_total{kind="sessionMessage"}`:   1,
		`mpcrelay_errors_total{code="-32601"}`:               1,
		`mpcrelay_slow_client_disconnects_total`:             0,
	} {
		if got := pollMetric(t, one, sample, want); got != want { // frames_out: counted after the write
			t.Errorf("%s: Expected: %v / Actual: %v", sample, want, got)
		}
	}
	if got := metric(t, one, `mpcrelay_bytes_in_total{method="Session.message"}`); got < 100 {
		t.Errorf("bytes_in Session.message: Expected: the frame's size / Actual: %v", got)
	}
	if got := metric(t, two, `mpcrelay_frames_in_total{method="Group.create"}`); got != 1 {
		t.Errorf("second relay: Expected: its own count 1 / Actual: %v", got)
	}
}

// Shutdown flushes what is queued, then sends close 1001 to every connection, and refuses new ones.
func TestGracefulShutdown(t *testing.T) {
	cfg := relay.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.DrainTimeout = 2 * time.Second
	inst, err := relay.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	g, s, rs := keygenReady(t, inst.URL(), 2, 1)
	for i := range 50 {
		rs[0].request(protocol.MethodSessionMessage, broadcast(g, s, uint16(i), `"queued"`))
	}
	for id := rs[0].nextID - 49; id <= rs[0].nextID; id++ {
		rs[0].response(id) // all 50 were handled, so their events are queued
	}
	start := time.Now()
	if err := inst.Shutdown(context.Background()); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if d := time.Since(start); d > cfg.DrainTimeout+3*time.Second { // slack for loaded CI machines
		t.Fatalf("Expected: drain bounded by %s / Actual: %s", cfg.DrainTimeout, d)
	}
	for range 50 {
		rs[1].event(protocol.EventSessionMessage)
	}
	if ce := rs[1].closed(); ce == nil || ce.Code != websocket.CloseGoingAway {
		t.Fatalf("Expected: close 1001 / Actual: %v", ce)
	}
	if _, _, err := websocket.DefaultDialer.Dial(inst.URL(), nil); err == nil {
		t.Fatal("Expected: no new connection after shutdown / Actual: dial succeeded")
	}
}

// A client that never answers the close handshake does not hold shutdown past the drain bound.
func TestShutdownDrainIsBounded(t *testing.T) {
	cfg := relay.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.DrainTimeout = 300 * time.Millisecond
	inst, err := relay.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, inst.URL()) // never reads: gorilla answers close frames only inside a read
	createGroup(t, r, 2, 1)
	start := time.Now()
	if err := inst.Shutdown(context.Background()); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second+cfg.DrainTimeout { // slack for loaded CI machines
		t.Fatalf("Expected: about %s / Actual: %s", cfg.DrainTimeout, d)
	}
}

// Start stops the relay when its context ends.
func TestStartContextOwnsTheRelay(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cfg := relay.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	inst, err := relay.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, inst.URL())
	cancel()
	if ce := r.closed(); ce == nil || ce.Code != websocket.CloseGoingAway {
		t.Fatalf("Expected: close 1001 when ctx ends / Actual: %v", ce)
	}
}

// A relay that cannot listen says so alone: it never served, so it logs no shutdown.
func TestStartThatCannotListenLogsNothing(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	var log strings.Builder
	cfg := relay.DefaultConfig()
	cfg.Addr = taken.Addr().String()
	cfg.Logger = slog.New(slog.NewTextHandler(&log, nil))
	if _, err := relay.Start(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("Expected: a listen error / Actual: %v", err)
	}
	if log.Len() != 0 {
		t.Fatalf("Expected: nothing logged / Actual: %q", log.String())
	}
}

func TestAllowedOrigins(t *testing.T) {
	inst := startRelay(t, false, func(c *relay.Config) { c.AllowedOrigins = []string{"https://wallet.example"} })
	dial := func(origin string) error {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		ws, _, err := websocket.DefaultDialer.Dial(inst.URL(), h)
		if err == nil {
			ws.Close()
		}
		return err
	}
	if err := dial("https://wallet.example"); err != nil {
		t.Errorf("listed origin: Expected: accepted / Actual: %v", err)
	}
	if err := dial(""); err != nil {
		t.Errorf("no origin (not a browser): Expected: accepted / Actual: %v", err)
	}
	if err := dial("https://evil.example"); err == nil {
		t.Error("other origin: Expected: refused / Actual: accepted")
	}
}

// --static serves files with the COOP/COEP headers the original sent.
func TestStaticDirHeaders(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<p>wallet</p>"), 0o644); err != nil {
		t.Fatal(err)
	}
	inst := startRelay(t, false, func(c *relay.Config) { c.StaticDir = dir })
	resp, err := http.Get("http://" + inst.Addr() + "/index.html")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "<p>wallet</p>" ||
		resp.Header.Get("Cross-Origin-Opener-Policy") != "same-origin" ||
		resp.Header.Get("Cross-Origin-Embedder-Policy") != "require-corp" {
		t.Fatalf("Expected: 200, the file, COOP same-origin, COEP require-corp / Actual: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	createGroup(t, dialRaw(t, inst.URL()), 2, 1) // the relay path still works beside it
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeSelfSigned(t, dir)
	inst := startRelay(t, false, func(c *relay.Config) { c.TLSCert = certFile; c.TLSKey = keyFile })
	if !strings.HasPrefix(inst.URL(), "wss://") {
		t.Fatalf("Expected: wss:// URL / Actual: %s", inst.URL())
	}
	d := websocket.Dialer{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} // self-signed test cert
	ws, _, err := d.Dial(inst.URL(), nil)
	if err != nil {
		t.Fatalf("dial wss: %v", err)
	}
	defer ws.Close()
	r := &raw{t: t, ws: ws}
	createGroup(t, r, 2, 1)
}

func writeSelfSigned(t *testing.T, dir string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// Keepalive: a client that answers no pings (it never reads) is closed after PongWait.
func TestPongWaitClosesSilentClient(t *testing.T) {
	inst := startRelay(t, false, func(c *relay.Config) {
		c.PingInterval = 100 * time.Millisecond
		c.PongWait = time.Second
	})
	dialRaw(t, inst.URL()) // never reads, so never answers a ping
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	alive, err := client.Dial(ctx, inst.URL()) // its read loop answers pings
	if err != nil {
		t.Fatal(err)
	}
	defer alive.Close()
	waitMetric(t, inst, "mpcrelay_connections", 2)
	time.Sleep(1500 * time.Millisecond)
	waitMetric(t, inst, "mpcrelay_connections", 1)
	if _, err := alive.GroupCreate(ctx, "alive", protocol.Parameters{Parties: 2, Threshold: 1}); err != nil {
		t.Fatalf("Expected: the answering client stays connected / Actual: %v", err)
	}
}
