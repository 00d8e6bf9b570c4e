package conformance

import (
	"fmt"
	"strings"

	"mpcrelay/conformance/browser"
	"mpcrelay/relay"
)

// §1.1: "TLS (wss://) is a deployment option." These cases check, from a real browser, the
// options the reference relay offers browser wallets (mpcrelay serve --tls-cert/--tls-key,
// --allowed-origins, --static): each starts a reference relay of its own with the option, so
// they run only when the run's target is the embedded reference relay.
func init() {
	register("1.1", "Transport",
		&Case{
			ID: "1.1/browser-wss-test-certificate",
			Requirement: "Served over wss:// with a test certificate the browser trusts (made in-process; Chromium is told its key), the reference relay carries " +
				"the browser's keygen flow; the same relay with a certificate the browser does not trust is refused by the browser.",
			Level: Must, Labels: []string{"browser", "transport"},
			Run: func(t *T) {
				t.requireEmbedded("--tls-cert/--tls-key")
				b := t.Browser()
				trusted := t.tlsRelay(workerBrowser.trusted)
				if !strings.HasPrefix(trusted.URL(), "wss://") {
					t.HarnessError("the TLS relay serves %s", trusted.URL())
				}
				page := t.servePage().URL()
				t.BrowserFlow(b, page, "keygenFlow", trusted.URL())
				// The check above proves something only if the browser does verify certificates.
				if opened, _ := t.probeOpen(b, page, t.tlsRelay(workerBrowser.untrusted).URL()); opened {
					t.HarnessError("Chromium opened wss:// to a relay whose certificate it was not told to trust: the wss:// check proves nothing")
				}
			},
		},
		&Case{
			ID: "1.1/browser-origin-refused-at-upgrade",
			Requirement: "A reference relay started with --allowed-origins refuses, at the WebSocket upgrade, a browser page of any other origin, " +
				"and accepts a page of a listed origin.",
			Level: Must, Labels: []string{"browser", "transport", "security"},
			Run: func(t *T) {
				t.requireEmbedded("--allowed-origins")
				b := t.Browser()
				allowed, other := t.servePage(), t.servePage()
				inst := t.startRelay(func(c *relay.Config) { c.AllowedOrigins = []string{allowed.Origin()} })
				t.Logf("relay %s allows origin %s only; other page: %s", inst.URL(), allowed.Origin(), other.Origin())
				if opened, why := t.probeOpen(b, other.URL(), inst.URL()); opened {
					t.Failf(fmt.Sprintf("a WebSocket from %s (not in --allowed-origins) refused at the upgrade", other.Origin()), "it opened")
				} else {
					t.Logf("from %s: %s", other.Origin(), why)
				}
				if opened, why := t.probeOpen(b, allowed.URL(), inst.URL()); !opened {
					t.Failf(fmt.Sprintf("a WebSocket from %s (listed in --allowed-origins) opens", allowed.Origin()), "%s", why)
				}
			},
		},
		&Case{
			ID: "1.1/browser-static-coop-coep",
			Requirement: "Pages a reference relay serves with --static carry Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp, " +
				"so the browser isolates them (crossOriginIsolated, which wallets' WebAssembly threads need), and a flow from such a page works.",
			Level: Must, Labels: []string{"browser", "transport"},
			Run: func(t *T) {
				t.requireEmbedded("--static")
				b := t.Browser()
				dir := t.tempDir()
				if err := browser.WriteFiles(dir); err != nil {
					t.HarnessError("write the page for --static: %v", err)
				}
				inst := t.startRelay(func(c *relay.Config) { c.StaticDir = dir })
				page := "http://" + inst.Addr() + "/index.html"
				var iso struct {
					CrossOriginIsolated bool   `json:"crossOriginIsolated"`
					COOP                string `json:"coop"`
					COEP                string `json:"coep"`
				}
				t.eval(b, page, "isolation().then(JSON.stringify)", &iso)
				if iso.COOP != "same-origin" || iso.COEP != "require-corp" {
					t.Failf("Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp on "+page,
						"Cross-Origin-Opener-Policy: %q, Cross-Origin-Embedder-Policy: %q", iso.COOP, iso.COEP)
				}
				if !iso.CrossOriginIsolated {
					t.Failf("the browser isolates "+page+" (self.crossOriginIsolated)", "false")
				}
				t.BrowserFlow(b, page, "keygenFlow", inst.URL())
			},
		},
	)
}

// tlsRelay starts a reference relay serving wss:// with cert.
func (t *T) tlsRelay(cert *browser.Cert) *relay.Instance {
	certFile, keyFile, err := cert.WriteFiles(t.tempDir())
	if err != nil {
		t.HarnessError("write the test certificate: %v", err)
	}
	return t.startRelay(func(c *relay.Config) { c.TLSCert, c.TLSKey = certFile, keyFile })
}
