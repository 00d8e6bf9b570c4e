package cluster

import (
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of a node. Each bound has a one-line reason.
const (
	// DefaultHeartbeat is how often a node tells the others it is alive.
	DefaultHeartbeat = time.Second
	// DefaultDeadAfter declares a silent node dead: three missed heartbeats, so one late
	// heartbeat on a busy machine does not cost the cluster its groups.
	DefaultDeadAfter = 3 * time.Second
	// DefaultRequestTimeout bounds a forwarded request; the relay passes its --write-wait.
	DefaultRequestTimeout = 10 * time.Second
	// envelopeRoom is what a cluster message adds around a client frame (ids, counts, headers).
	envelopeRoom = 64 << 10
)

// Config of a node's link to NATS.
type Config struct {
	URL  string // NATS server URL(s), comma-separated (nats://host:4222, tls://...)
	Name string // cluster name: subjects live under mpcrelay.<Name>, so clusters on one NATS never mix

	CredsFile   string // NATS credentials file (JWT + nkey seed), for secured deployments
	TLSCAFile   string // CA bundle that signed the NATS server's certificate
	TLSCertFile string // client certificate, with TLSKeyFile, for NATS servers that verify clients
	TLSKeyFile  string

	Heartbeat      time.Duration // period of this node's heartbeats
	DeadAfter      time.Duration // a node silent this long is dead (its connections leave their groups, §6.1)
	RequestTimeout time.Duration // bound of one forwarded request (the relay's write wait)
	MaxFrameBytes  int64         // largest client frame the relay forwards; NATS max_payload must hold it

	Logger     *slog.Logger          // nil discards logs
	Registerer prometheus.Registerer // where the cross-node metrics go; nil: not registered
}

var clusterNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (c Config) normalize() (Config, error) {
	if c.URL == "" {
		return c, fmt.Errorf("no NATS URL")
	}
	if !clusterNameRE.MatchString(c.Name) {
		return c, fmt.Errorf("cluster name %q: want 1 to 64 letters, digits, '-' or '_' (it becomes a NATS subject token)", c.Name)
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return c, fmt.Errorf("NATS TLS client certificate needs both a certificate and a key")
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.DeadAfter <= 0 {
		c.DeadAfter = DefaultDeadAfter
	}
	if c.DeadAfter < 2*c.Heartbeat {
		return c, fmt.Errorf("dead-after %s must be at least two heartbeats (%s)", c.DeadAfter, 2*c.Heartbeat)
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// prefix is the root of every subject of the cluster.
func (c Config) prefix() string { return "mpcrelay." + c.Name }
