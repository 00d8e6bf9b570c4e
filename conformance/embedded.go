package conformance

import (
	"context"
	"fmt"

	"mpcrelay/relay"
)

// StartEmbedded starts the reference relay on a free loopback port: the target of a run without
// --url. compat selects the original server's behaviour (PROTOCOL.md COMPAT points).
func StartEmbedded(ctx context.Context, compat bool) (*relay.Instance, error) {
	cfg := relay.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.Compat = compat
	inst, err := relay.Start(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("start embedded reference relay: %w", err)
	}
	return inst, nil
}
