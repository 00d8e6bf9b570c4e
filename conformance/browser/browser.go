// Package browser drives headless Chromium (through the Chrome DevTools Protocol, with
// chromedp) for the conformance cases that use a real browser as a client: it finds and launches
// Chromium, serves the kit's page and JavaScript client (web/), evaluates a flow in a fresh tab,
// and makes test certificates for wss://.
package browser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

// ErrNotFound means no Chromium executable was found: browser cases are skipped, not failed.
var ErrNotFound = errors.New("no Chromium found")

// ExecEnv names an environment variable that points at the Chromium executable to use.
const ExecEnv = "MPCRELAY_CHROMIUM"

// candidates are the names Chromium goes by in PATH (Debian's package installs "chromium").
var candidates = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"}

// Find returns the Chromium executable: $MPCRELAY_CHROMIUM, else the first of chromium,
// chromium-browser, google-chrome, google-chrome-stable, chrome found in PATH.
func Find() (string, error) {
	if p := os.Getenv(ExecEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%w: $%s=%s: %v", ErrNotFound, ExecEnv, p, err)
		}
		return p, nil
	}
	for _, name := range candidates {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: set $%s or put one of %s in PATH (Debian: apt-get install chromium)",
		ErrNotFound, ExecEnv, strings.Join(candidates, ", "))
}

// Options configure a launch.
type Options struct {
	ExecPath  string    // "" = Find()
	TrustSPKI []string  // base64 SHA-256 hashes of public keys whose certificates Chromium accepts (wss:// test certificates)
	Output    io.Writer // Chromium's own output (nil = discarded)
}

// Browser is one headless Chromium process.
type Browser struct {
	ctx        context.Context // the browser's chromedp context
	cancel     context.CancelFunc
	allocStop  context.CancelFunc
	dataDir    string
	LaunchTime time.Duration // from exec to the first tab ready
	Version    string
}

// Launch starts headless Chromium with a fresh profile. The flags keep it from reaching out to
// the network on its own (the machines this runs on have none, and Chromium's background
// connections would otherwise fail, or slow every start): no background networking, component
// updates, sync or QUIC.
func Launch(ctx context.Context, opts Options) (*Browser, error) {
	path := opts.ExecPath
	if path == "" {
		p, err := Find()
		if err != nil {
			return nil, err
		}
		path = p
	}
	dir, err := os.MkdirTemp("", "mpcrelay-chromium-")
	if err != nil {
		return nil, err
	}
	flags := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(dir),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true), // CI runs as root
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.WSURLReadTimeout(60 * time.Second), // a loaded 2-core machine starts it slowly
	}
	if len(opts.TrustSPKI) > 0 {
		flags = append(flags, chromedp.Flag("ignore-certificate-errors-spki-list", strings.Join(opts.TrustSPKI, ",")))
	}
	if opts.Output != nil {
		flags = append(flags, chromedp.CombinedOutput(opts.Output))
	}
	// The browser outlives the context of the case that launched it: Close ends it.
	allocCtx, allocStop := chromedp.NewExecAllocator(context.WithoutCancel(ctx), flags...)
	bctx, cancel := chromedp.NewContext(allocCtx)
	b := &Browser{ctx: bctx, cancel: cancel, allocStop: allocStop, dataDir: dir}
	start := time.Now()
	launched := make(chan error, 1)
	go func() {
		var err error
		b.Version, err = chromedp.Run(bctx, chromedp.Evaluate[string](`navigator.userAgent`))
		launched <- err
	}()
	select {
	case err = <-launched:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("launch %s: %w", path, err)
	}
	b.LaunchTime = time.Since(start)
	return b, nil
}

// Eval opens pageURL in a new tab, evaluates expr there (awaiting it when it is a promise) and
// decodes its value, which must be a JSON string (JSON.stringify(...)), into out. The tab is
// closed afterwards, or as soon as ctx ends.
func (b *Browser) Eval(ctx context.Context, pageURL, expr string, out any) error {
	tab, closeTab := chromedp.NewContext(b.ctx)
	defer closeTab()
	stop := context.AfterFunc(ctx, closeTab)
	defer stop()
	var res string
	err := chromedp.Do(tab, chromedp.Navigate(pageURL))
	if err == nil {
		res, err = chromedp.Run(tab, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
	}
	if ctx.Err() != nil {
		return fmt.Errorf("browser: %s: %w", pageURL, context.Cause(ctx))
	}
	if err != nil {
		return fmt.Errorf("browser: %s: %w", pageURL, err)
	}
	if err := json.Unmarshal([]byte(res), out); err != nil {
		return fmt.Errorf("browser: %s: result %.200q: %w", pageURL, res, err)
	}
	return nil
}

// Close ends Chromium and removes its profile.
func (b *Browser) Close() error {
	b.cancel()
	b.allocStop()
	return os.RemoveAll(b.dataDir)
}
