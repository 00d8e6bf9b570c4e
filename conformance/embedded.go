package conformance

import (
	"context"
	"fmt"

	"mpcrelay/relay"
	"mpcrelay/relay/cluster"
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

// EmbeddedCluster is the reference relay as a cluster of nodes on an in-process NATS server:
// the target of `conform --cluster` without --url.
type EmbeddedCluster struct {
	NATS  *cluster.NATSServer
	Nodes []*relay.Instance
}

// StartEmbeddedCluster starts an embedded NATS server and n reference relay nodes on free
// loopback ports, joined as one relay.
func StartEmbeddedCluster(ctx context.Context, n int, compat bool) (*EmbeddedCluster, error) {
	ns, err := cluster.StartNATS(cluster.ServerConfig{Addr: "127.0.0.1:0"})
	if err != nil {
		return nil, fmt.Errorf("start embedded NATS: %w", err)
	}
	ec := &EmbeddedCluster{NATS: ns}
	for i := range n {
		cfg := relay.DefaultConfig()
		cfg.Addr = "127.0.0.1:0"
		cfg.Compat = compat
		cfg.Cluster = cluster.Config{URL: ns.ClientURL(), Name: "conform"}
		inst, err := relay.Start(ctx, cfg)
		if err != nil {
			ec.Shutdown(ctx)
			return nil, fmt.Errorf("start embedded relay node %d: %w", i+1, err)
		}
		ec.Nodes = append(ec.Nodes, inst)
	}
	return ec, nil
}

// URLs are the nodes' WebSocket URLs.
func (ec *EmbeddedCluster) URLs() []string {
	var out []string
	for _, n := range ec.Nodes {
		out = append(out, n.URL())
	}
	return out
}

// Shutdown stops the nodes, then NATS.
func (ec *EmbeddedCluster) Shutdown(ctx context.Context) {
	for _, n := range ec.Nodes {
		_ = n.Shutdown(ctx)
	}
	ec.NATS.Shutdown()
}
