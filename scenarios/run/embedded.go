package run

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"mpcrelay/relay"
)

// restartDowntime keeps the relay down a while longer in a restart. Tests lengthen it to stand
// for a shutdown that takes time on a loaded machine.
var restartDowntime time.Duration

// embedded is the embedded reference relay, restartable on the same address.
type embedded struct {
	mu   sync.Mutex
	cfg  relay.Config
	inst *relay.Instance
	ctx  context.Context
}

func startEmbedded(ctx context.Context, log *slog.Logger) (*embedded, error) {
	cfg := relay.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.Logger = log
	// Many groups from one client process: the session limit must not be what is measured.
	cfg.MaxSessions = -1
	inst, err := relay.Start(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("embedded relay: %w", err)
	}
	cfg.Addr = inst.Addr() // a restart comes back on the same port
	return &embedded{cfg: cfg, inst: inst, ctx: ctx}, nil
}

func (e *embedded) url() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.inst.URL()
}

// restart shuts the relay down (every connection drops, every group and session is lost) and
// starts a fresh one on the same address.
func (e *embedded) restart(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_ = e.inst.Shutdown(sctx)
	time.Sleep(restartDowntime)
	var err error
	for range 50 { // the port may take a moment to be free again
		var inst *relay.Instance
		if inst, err = relay.Start(e.ctx, e.cfg); err == nil {
			e.inst = inst
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("restart relay on %s: %w", e.cfg.Addr, err)
}

// up returns once no restart is under way (restart holds e.mu from shutdown to the new start).
func (e *embedded) up() {
	e.mu.Lock()
	defer e.mu.Unlock()
}

func (e *embedded) shutdown() {
	e.mu.Lock()
	defer e.mu.Unlock()
	shutdown(e.inst.Shutdown)
}
