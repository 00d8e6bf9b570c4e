//go:build race

package replay

import "sync/atomic"

// The race detector does not see that a frame read from a socket was written after what its
// sender did before writing it (the relay's round trip orders them); the standard library's
// own reads and writes tell it so through one shared variable (internal/poll's ioSync), and the
// poller's raw reads do the same here. Without -race these are no-ops.
var ioSync atomic.Uint64

func ioRelease() { ioSync.Add(1) }
func ioAcquire() { ioSync.Load() }
