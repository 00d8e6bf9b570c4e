package relay

import (
	"fmt"
	"log/slog"
	"time"

	"mpcrelay/relay/cluster"
)

// Defaults of the reference relay. Each limit has a one-line reason.
const (
	DefaultAddr = "127.0.0.1:3030" // the original's address (§1.1)
	DefaultPath = "/mpc"           // the original's path (§1.1)

	// MinFrameBytes is the protocol's floor: real ECDSA keygen rounds must fit (§4.7).
	MinFrameBytes = 1 << 20
	// DefaultMaxFrameBytes leaves room for GG18/GG20 keygen rounds with many parties.
	DefaultMaxFrameBytes = 16 << 20
	// DefaultSendQueue frames may be queued for one connection. Like the byte bound beside it
	// (4×MaxFrameBytes), it bounds memory, not slowness (slowness is a write that does not
	// complete within WriteWait): several senders fill one receiver's queue faster than its socket
	// drains, so an honest burst is senders × frames each (3 × 400 pipelined 8 KiB messages
	// dropped a reading client at the old bound of 256). It is the byte bound counted in 1 KiB
	// frames, so small frames queue as deep as large ones; a full queue's slots take 2.5 MiB.
	DefaultSendQueue = 1 << 16
	// DefaultPingInterval keeps NAT and proxy state alive and finds dead peers.
	DefaultPingInterval = 30 * time.Second
	// DefaultPongWait is how long a connection may stay silent (no frame, no pong): two pings.
	DefaultPongWait = 60 * time.Second
	// DefaultWriteWait bounds one frame write; a peer that takes longer is gone or stalled.
	DefaultWriteWait = 10 * time.Second
	// DefaultMaxGroupsPerConn bounds what one connection can make the relay hold.
	DefaultMaxGroupsPerConn = 64
	// DefaultMaxSessions bounds the relay's session table (each session is a few hundred bytes).
	DefaultMaxSessions = 100_000
	// DefaultIdleExpiry drops groups and sessions nobody touched for this long.
	DefaultIdleExpiry = time.Hour
	// DefaultDrainTimeout bounds graceful shutdown: flush queues, close frames 1001, wait replies.
	DefaultDrainTimeout = 5 * time.Second
)

// Config of a relay. In New, a zero field takes its default; a negative limit or duration
// (MaxGroupsPerConn, MaxSessions, IdleExpiry, PingInterval) switches that limit off.
type Config struct {
	Addr string // listen address for Start; "127.0.0.1:0" picks a free port
	Path string // WebSocket path

	// Compat makes the relay behave exactly like the original mpc-websocket in every COMPAT
	// point of PROTOCOL.md; the default is the strict reading.
	Compat bool

	MaxFrameBytes int64 // largest frame read; at least MinFrameBytes
	SendQueue     int   // outbound frames queued per connection (also bounded to 4×MaxFrameBytes bytes); past either bound it is dropped as slow

	PingInterval time.Duration // keepalive pings
	PongWait     time.Duration // read deadline, extended by every frame and pong
	WriteWait    time.Duration // deadline of one write

	MaxGroupsPerConn int           // groups one connection may belong to
	MaxSessions      int           // sessions open in the whole relay
	IdleExpiry       time.Duration // groups and sessions untouched this long are deleted

	AllowedOrigins []string // Origin values accepted on upgrade; empty or "*" accepts any (as the original)
	StaticDir      string   // when set, served at "/" with the COOP/COEP headers of the original
	TLSCert        string   // with TLSKey: serve wss:// (Start only)
	TLSKey         string
	DrainTimeout   time.Duration // bound of Shutdown's drain

	Logger *slog.Logger // nil discards logs

	// Cluster makes this relay one node of a relay spanning several processes over NATS
	// (relay/cluster); an empty Cluster.URL (the default) is the single-node relay.
	// RequestTimeout, MaxFrameBytes and Logger are filled from the fields above.
	Cluster cluster.Config
}

// DefaultConfig returns the strict reference configuration.
func DefaultConfig() Config {
	return Config{
		Addr:             DefaultAddr,
		Path:             DefaultPath,
		MaxFrameBytes:    DefaultMaxFrameBytes,
		SendQueue:        DefaultSendQueue,
		PingInterval:     DefaultPingInterval,
		PongWait:         DefaultPongWait,
		WriteWait:        DefaultWriteWait,
		MaxGroupsPerConn: DefaultMaxGroupsPerConn,
		MaxSessions:      DefaultMaxSessions,
		IdleExpiry:       DefaultIdleExpiry,
		DrainTimeout:     DefaultDrainTimeout,
	}
}

// normalize fills defaults and checks the values that have no safe fallback.
func (c Config) normalize() (Config, error) {
	d := DefaultConfig()
	if c.Addr == "" {
		c.Addr = d.Addr
	}
	if c.Path == "" {
		c.Path = d.Path
	}
	if c.Path[0] != '/' {
		return c, fmt.Errorf("path %q must start with /", c.Path)
	}
	switch {
	case c.MaxFrameBytes == 0:
		c.MaxFrameBytes = d.MaxFrameBytes
	case c.MaxFrameBytes < MinFrameBytes:
		return c, fmt.Errorf("max frame bytes %d is below the protocol's minimum of %d (§4.7)", c.MaxFrameBytes, MinFrameBytes)
	}
	switch {
	case c.SendQueue == 0:
		c.SendQueue = d.SendQueue
	case c.SendQueue < 1:
		return c, fmt.Errorf("send queue %d must be at least 1", c.SendQueue)
	}
	if c.PingInterval == 0 {
		c.PingInterval = d.PingInterval
	}
	if c.PongWait == 0 {
		c.PongWait = d.PongWait
	}
	if c.PongWait < 0 {
		return c, fmt.Errorf("pong wait %s must be positive", c.PongWait)
	}
	if c.PingInterval > 0 && c.PingInterval >= c.PongWait {
		return c, fmt.Errorf("ping interval %s must be shorter than pong wait %s", c.PingInterval, c.PongWait)
	}
	if c.WriteWait == 0 {
		c.WriteWait = d.WriteWait
	}
	if c.WriteWait < 0 {
		return c, fmt.Errorf("write wait %s must be positive", c.WriteWait)
	}
	if c.MaxGroupsPerConn == 0 {
		c.MaxGroupsPerConn = d.MaxGroupsPerConn
	}
	if c.MaxSessions == 0 {
		c.MaxSessions = d.MaxSessions
	}
	if c.IdleExpiry == 0 {
		c.IdleExpiry = d.IdleExpiry
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = d.DrainTimeout
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return c, fmt.Errorf("TLS needs both a certificate and a key")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Cluster.URL != "" {
		c.Cluster.RequestTimeout = c.WriteWait // a cross-node request is bounded like a write (-32603 after it)
		c.Cluster.MaxFrameBytes = c.MaxFrameBytes
		c.Cluster.Logger = c.Logger
	}
	return c, nil
}
