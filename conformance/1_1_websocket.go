package conformance

import (
	"bytes"
	"fmt"

	"github.com/gobwas/ws"

	"mpcrelay/relay/protocol"
)

// §1.1: "A relay serves WebSocket (RFC 6455)". The SDK's library answers pings and assembles
// fragments for it, so a relay that does neither passed every other case; these write the frames
// themselves. RFC 6455 §5.5.2–5.5.3: a ping is answered by a pong with its application data;
// §5.4: a message may come in fragments, with control frames between them.
func init() {
	register("1.1", "Transport",
		&Case{
			ID:          "1.1/ping-answered-with-its-payload",
			Requirement: "A ping is answered with a pong carrying the ping's application data (RFC 6455 §5.5.2–5.5.3), and the connection stays usable.",
			Level:       Must, Labels: []string{"transport", "websocket"},
			Run: func(t *T) {
				c := t.DialFrames("A")
				for i, payload := range [][]byte{[]byte("mpcrelay conformance ping 1"), {}, bytes.Repeat([]byte{0xa5}, 125)} {
					c.Write(ws.OpPing, true, payload)
					pong := c.Await(fmt.Sprintf("a pong answering ping #%d", i+1), func(f ws.Frame) bool { return f.Header.OpCode == ws.OpPong })
					if !bytes.Equal(pong.Payload, payload) {
						t.Failf(fmt.Sprintf("the pong carries the ping's %d bytes %q", len(payload), payload), "%d bytes %q", len(pong.Payload), pong.Payload)
					}
				}
				expectFramedCall(t, c, nil)
			},
		},
		&Case{
			ID:          "1.1/fragmented-request-with-ping-between",
			Requirement: "A request sent in three fragments, with a ping between the first two, is executed and answered, and the ping is answered with its payload (RFC 6455 §5.4).",
			Level:       Must, Labels: []string{"transport", "websocket"},
			Run: func(t *T) {
				c := t.DialFrames("A")
				expectFramedCall(t, c, func(req []byte) {
					third := len(req) / 3
					c.Write(ws.OpText, false, req[:third])
					c.Write(ws.OpPing, true, []byte("between fragments"))
					c.Write(ws.OpContinuation, false, req[third:2*third])
					c.Write(ws.OpContinuation, true, req[2*third:])
				})
			},
		},
	)
}

// expectFramedCall sends a Group.create on c (in one frame, or as send writes it) and fails the
// case unless a success answers it; with send, a pong "between fragments" must come too (before
// or after the answer).
func expectFramedCall(t *T, c *frameConn, send func(req []byte)) {
	const between = "between fragments"
	id := uint64(4_000_001)
	req, _ := protocol.NewRequest(id, protocol.MethodGroupCreate, protocol.GroupCreateParams{Label: t.Label(), Params: protocol.Parameters{Parties: 2, Threshold: 1}})
	if send == nil {
		c.Write(ws.OpText, true, req)
	} else {
		send(req)
	}
	isPong := func(f ws.Frame) bool { return f.Header.OpCode == ws.OpPong }
	checkPong := func(f ws.Frame) {
		if string(f.Payload) != between {
			t.Failf(fmt.Sprintf("the pong carries %q", between), "%q", f.Payload)
		}
	}
	ponged := false
	for {
		f := c.Await(fmt.Sprintf("a success answering request %d", id), func(f ws.Frame) bool { return (send != nil && isPong(f)) || isResponse(id)(f) })
		if isPong(f) {
			checkPong(f)
			ponged = true
			continue
		}
		if in, err := protocol.DecodeIncoming(f.Payload); err != nil || in.Error != nil {
			t.Failf(fmt.Sprintf("a success answering request %d", id), "%q", f.Payload)
		}
		break
	}
	if send != nil && !ponged {
		checkPong(c.Await("a pong answering the ping between the fragments", isPong))
	}
}
