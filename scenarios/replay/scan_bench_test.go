package replay

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"mpcrelay/relay/protocol"
	"mpcrelay/scenarios/trace"
)

// BenchmarkReadDelivery compares, in one run, reading one sessionMessage event the way the
// generator did before (the SDK's decoding: envelope, event, message, then the body compared as
// JSON) with the scanner and byte comparison it uses now, and with the jsontext tokenizer
// relay/protocol uses (one pass, in place, the body validated and compared), for a small frame
// and for the 178 KB ECDSA keygen broadcast. go test -run '^$' -bench ReadDelivery ./scenarios/replay
func BenchmarkReadDelivery(b *testing.B) {
	for _, size := range []int{300, 178428} {
		body, _ := replayBody(0, &trace.Message{Size: size}, false)
		id := uuid.New()
		msg := protocol.Message{Round: 1, Sender: 2, UUID: id, Body: body}
		frame, err := protocol.EncodeEvent(protocol.EventSessionMessage, msg)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("size=%d/decode", size), func(b *testing.B) {
			b.SetBytes(int64(len(frame)))
			for range b.N {
				in, err := protocol.DecodeIncoming(frame)
				if err != nil {
					b.Fatal(err)
				}
				ev, err := in.Event()
				if err != nil {
					b.Fatal(err)
				}
				var m protocol.Message
				if err := json.Unmarshal(ev.Payload, &m); err != nil || !jsonEqual(m.Body, body) {
					b.Fatal("not intact", err)
				}
			}
		})
		b.Run(fmt.Sprintf("size=%d/scan", size), func(b *testing.B) {
			b.SetBytes(int64(len(frame)))
			for range b.N {
				env, ok := scanEnvelope(frame)
				if !ok || !env.isEvent() {
					b.Fatal("not an event")
				}
				_, payload, ok := env.event()
				if !ok {
					b.Fatal("no payload")
				}
				m, ok := scanMessage(payload, func(int) []byte { return body })
				if !ok || m.slowBody || string(m.uuid) != id.String() {
					b.Fatal("not intact")
				}
			}
		})
		b.Run(fmt.Sprintf("size=%d/jsontext", size), func(b *testing.B) {
			b.SetBytes(int64(len(frame)))
			var jr jsonReader
			for range b.N {
				m, ok := jr.delivery(frame, func(int) []byte { return body })
				if !ok || m.slowBody || string(m.uuid) != id.String() {
					b.Fatal("not intact")
				}
			}
		})
	}
}
