package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"mpcrelay/relay"
)

// launch starts Chromium for a test; without one the test is skipped, except in CI (CI=true),
// where .ci/run installs Debian's chromium and a missing browser must not pass unnoticed.
func launch(t *testing.T, opts Options) *Browser {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := Launch(ctx, opts)
	if errors.Is(err, ErrNotFound) && os.Getenv("CI") == "" {
		t.Skipf("%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	t.Logf("%s launched in %s", b.Version, b.LaunchTime)
	return b
}

func startRelay(t *testing.T, configure func(*relay.Config)) *relay.Instance {
	t.Helper()
	cfg := relay.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	configure(&cfg)
	inst, err := relay.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Shutdown(context.Background()) })
	return inst
}

func eval(t *testing.T, b *Browser, page, expr string, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := b.Eval(ctx, page, expr, out); err != nil {
		t.Fatal(err)
	}
}

// The page's probes tell the cases' conditions apart: a WebSocket opens or is refused at the
// upgrade by origin, a page is or is not cross-origin isolated, a certificate is or is not
// trusted; and both flows complete against the reference relay (their time is logged).
func TestPageProbesAndFlows(t *testing.T) {
	trusted, err := NewCert()
	if err != nil {
		t.Fatal(err)
	}
	b := launch(t, Options{TrustSPKI: []string{trusted.SPKI}})
	page, err := ServePage()
	if err != nil {
		t.Fatal(err)
	}
	defer page.Close()
	open := startRelay(t, func(*relay.Config) {})
	closed := startRelay(t, func(c *relay.Config) { c.AllowedOrigins = []string{"http://wallet.example"} })
	var probe struct {
		Opened bool   `json:"opened"`
		Why    string `json:"why"`
	}
	eval(t, b, page.URL(), fmt.Sprintf("probeOpen(%q, 5000).then(JSON.stringify)", open.URL()), &probe)
	if !probe.Opened {
		t.Fatalf("a relay without --allowed-origins accepts the page: %s", probe.Why)
	}
	eval(t, b, page.URL(), fmt.Sprintf("probeOpen(%q, 5000).then(JSON.stringify)", closed.URL()), &probe)
	if probe.Opened {
		t.Fatal("a relay allowing only http://wallet.example accepted " + page.Origin())
	}
	var iso struct {
		CrossOriginIsolated bool   `json:"crossOriginIsolated"`
		COOP                string `json:"coop"`
	}
	eval(t, b, page.URL(), "isolation().then(JSON.stringify)", &iso)
	if iso.CrossOriginIsolated || iso.COOP != "" {
		t.Fatalf("the kit's own page server sends no COOP/COEP, so its page is not isolated: %+v", iso)
	}
	dir := t.TempDir()
	certFile, keyFile, err := trusted.WriteFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	tlsRelay := startRelay(t, func(c *relay.Config) { c.TLSCert, c.TLSKey = certFile, keyFile })
	other, _ := NewCert()
	otherDir := filepath.Join(dir, "other")
	os.Mkdir(otherDir, 0o755)
	otherCert, otherKey, _ := other.WriteFiles(otherDir)
	untrustedRelay := startRelay(t, func(c *relay.Config) { c.TLSCert, c.TLSKey = otherCert, otherKey })
	eval(t, b, page.URL(), fmt.Sprintf("probeOpen(%q, 5000).then(JSON.stringify)", untrustedRelay.URL()), &probe)
	if probe.Opened {
		t.Fatal("Chromium trusted a certificate it was not told about")
	}
	for _, target := range []string{open.URL(), tlsRelay.URL()} {
		for _, flow := range []string{"keygenFlow", "signFlow"} {
			var res struct {
				OK       bool    `json:"ok"`
				MS       float64 `json:"ms"`
				Expected string  `json:"expected"`
				Actual   string  `json:"actual"`
				Log      []any   `json:"log"`
			}
			eval(t, b, page.URL(), fmt.Sprintf("%s(%q, 5000).then(JSON.stringify)", flow, target), &res)
			if !res.OK {
				t.Fatalf("%s against %s:\nExpected: %s\nActual:   %s", flow, target, res.Expected, res.Actual)
			}
			t.Logf("%s against %s: %.1f ms, %d frames", flow, target, res.MS, len(res.Log))
		}
	}
}

func TestFindHonoursEnv(t *testing.T) {
	t.Setenv(ExecEnv, filepath.Join(t.TempDir(), "no-chromium"))
	if _, err := Find(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ErrNotFound, got %v", err)
	}
}
