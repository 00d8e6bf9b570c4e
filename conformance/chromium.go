package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"mpcrelay/conformance/browser"
	"mpcrelay/relay"
)

// workerBrowser is the headless Chromium of a worker process: launched by the first browser case
// the worker runs (shard gives every browser case of a run to one worker), closed when the
// worker ends (closeWorkerBrowser). Chromium trusts the test certificate `trusted` and not
// `untrusted`, which the wss:// case uses to show that trust is what lets it through.
var workerBrowser struct {
	sync.Mutex
	tried              bool
	b                  *browser.Browser
	err                error
	trusted, untrusted *browser.Cert
}

// Browser returns the worker's Chromium, launching it on first use. No Chromium installed
// skips the case (reported as skipped, never as pass); a Chromium that fails to start is a
// harness error.
func (t *T) Browser() *browser.Browser {
	wb := &workerBrowser
	wb.Lock()
	defer wb.Unlock()
	if !wb.tried {
		wb.tried = true
		wb.trusted, wb.err = browser.NewCert()
		if wb.err == nil {
			wb.untrusted, wb.err = browser.NewCert()
		}
		if wb.err == nil {
			wb.b, wb.err = browser.Launch(t.ctx, browser.Options{TrustSPKI: []string{wb.trusted.SPKI}})
		}
		if wb.err == nil {
			t.Logf("launched %s in %s", wb.b.Version, wb.b.LaunchTime.Round(time.Millisecond))
		}
	}
	switch {
	case errors.Is(wb.err, browser.ErrNotFound):
		t.Skip("browser case: %v", wb.err)
	case wb.err != nil:
		t.HarnessError("browser: %v", wb.err)
	}
	return wb.b
}

func closeWorkerBrowser() {
	wb := &workerBrowser
	wb.Lock()
	defer wb.Unlock()
	if wb.b != nil {
		_ = wb.b.Close()
		wb.b = nil
	}
}

// flowResult is what flows.js returns.
type flowResult struct {
	OK       bool       `json:"ok"`
	MS       float64    `json:"ms"`
	Expected string     `json:"expected"`
	Actual   string     `json:"actual"`
	Log      []flowLine `json:"log"`
}

type flowLine struct {
	T    float64 `json:"t"` // ms since the flow started
	Conn string  `json:"conn"`
	Dir  string  `json:"dir"`
	Data string  `json:"data"`
}

// BrowserFlow runs a flow of flows.js (keygenFlow, signFlow) in the browser, from pageURL,
// against the relay at url: the frames the page's WebSockets sent and received go into the
// transcript, and a flow that does not complete fails the case with its Expected / Actual.
// It returns the flow's own time.
func (t *T) BrowserFlow(b *browser.Browser, pageURL, flow, url string) time.Duration {
	var res flowResult
	started := time.Now()
	t.eval(b, pageURL, fmt.Sprintf("%s(%s, %d).then(JSON.stringify)", flow, jsString(url), t.cfg.Timeout.Milliseconds()), &res)
	for _, l := range res.Log {
		t.tr.frame("b"+l.Conn, l.Dir, false, []byte(l.Data), started.Add(time.Duration(l.T*float64(time.Millisecond))))
	}
	if !res.OK {
		t.Failf(res.Expected, "%s", res.Actual)
	}
	d := time.Duration(res.MS * float64(time.Millisecond))
	t.Logf("browser %s from %s to %s: %s", flow, pageURL, url, d.Round(time.Microsecond))
	return d
}

// eval evaluates expr on pageURL; a browser that cannot load the page or run the script is a
// harness error, and the case's bound stops it.
func (t *T) eval(b *browser.Browser, pageURL, expr string, out any) {
	since := time.Now()
	if err := b.Eval(t.ctx, pageURL, expr, out); err != nil {
		if t.ctx.Err() != nil {
			t.ended(fmt.Sprintf("the browser to evaluate %.80s on %s", expr, pageURL), since)
		}
		t.HarnessError("%v", err)
	}
}

// probeOpen reports whether a WebSocket opened from pageURL to url opens, and why not.
func (t *T) probeOpen(b *browser.Browser, pageURL, url string) (bool, string) {
	var res struct {
		Opened bool   `json:"opened"`
		Why    string `json:"why"`
	}
	t.eval(b, pageURL, fmt.Sprintf("probeOpen(%s, %d).then(JSON.stringify)", jsString(url), t.cfg.Timeout.Milliseconds()), &res)
	return res.Opened, res.Why
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// servePage starts a page server (an origin of its own) for the case.
func (t *T) servePage() *browser.PageServer {
	p, err := browser.ServePage()
	if err != nil {
		t.HarnessError("serve the browser page: %v", err)
	}
	t.cleanup(func() { _ = p.Close() })
	return p
}

// requireEmbedded skips cases that check options of the reference relay (mpcrelay serve) unless
// the run's target is the embedded reference relay: the kit cannot reconfigure a relay at --url.
func (t *T) requireEmbedded(options string) {
	if !t.embedded {
		t.Skip("checks the reference relay's %s as a browser sees them: runs only against the embedded reference relay (conform without --url)", options)
	}
}

// startRelay starts a reference relay configured by configure, for the case only.
func (t *T) startRelay(configure func(*relay.Config)) *relay.Instance {
	cfg := relay.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	configure(&cfg)
	inst, err := relay.Start(t.ctx, cfg)
	if err != nil {
		t.HarnessError("start a reference relay: %v", err)
	}
	t.cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = inst.Shutdown(ctx)
	})
	return inst
}

// tempDir makes a directory removed when the case ends.
func (t *T) tempDir() string {
	dir, err := os.MkdirTemp("", "mpcrelay-case-")
	if err != nil {
		t.HarnessError("temp dir: %v", err)
	}
	t.cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}
