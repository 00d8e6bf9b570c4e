package conformance

import (
	"encoding/json"
	"fmt"
	"time"

	"mpcrelay/client"
	"mpcrelay/relay/protocol"
)

// concurrentRounds is how many times a concurrency case repeats its burst: a race shows only
// when the requests reach the relay close together, which one burst on a loaded machine may miss.
const concurrentRounds = 3

// Call is one request of a burst that several connections send at once (T.AtOnce).
type Call struct {
	Conn   *Conn
	Method string
	Params any
}

// AtOnce writes the requests of calls back to back, each on its own connection and none waiting
// for another's answer, and returns their responses in the same order. §1.3 orders the requests
// of one connection only: a relay takes those of different connections in any order, and one
// whose state changes are not atomic (a count read, an await, the count written) shows it here
// and nowhere else. A connection must appear at most once in calls.
func (t *T) AtOnce(calls ...Call) []client.Response {
	ctx, cancel := t.ctxTimeout()
	defer cancel()
	since := time.Now()
	ids := make([]uint64, len(calls))
	frames := make([][]byte, len(calls))
	for i, c := range calls {
		ids[i] = c.Conn.NextID()
		f, err := protocol.NewRequest(ids[i], c.Method, c.Params)
		if err != nil {
			t.HarnessError("encode %s: %v", c.Method, err)
		}
		frames[i] = f
	}
	for i, c := range calls {
		if err := c.Conn.Send(ctx, frames[i]); err != nil {
			t.Failf(fmt.Sprintf("%s written on %s", c.Method, c.Conn.Name), "%v (connection %s)", err, c.Conn.closedErr())
		}
	}
	out := make([]client.Response, len(calls))
	for i, c := range calls {
		// the answer matches no pending call: it arrives among the unmatched frames
		select {
		case f, open := <-c.Conn.Unmatched():
			if !open {
				t.Failf(fmt.Sprintf("a response to %s on %s", c.Method, c.Conn.Name), "none (connection %s)", c.Conn.closedErr())
			}
			in, err := protocol.DecodeIncoming(f.Data)
			if id, ok := in.IDNumber(); err != nil || !ok || uint64(id) != ids[i] {
				t.Failf(fmt.Sprintf("the response to %s (id %d) on %s", c.Method, ids[i], c.Conn.Name), "%s", short(json.RawMessage(f.Data)))
			}
			out[i] = client.Response{Incoming: in, Raw: f.Data, At: f.At}
		case <-ctx.Done():
			if t.ctx.Err() != nil {
				t.ended(fmt.Sprintf("a response to %s on %s", c.Method, c.Conn.Name), since)
			}
			t.Failf(fmt.Sprintf("a response to %s on %s within %s", c.Method, c.Conn.Name, t.cfg.Timeout), "none (connection %s)", c.Conn.closedErr())
		}
	}
	return out
}
