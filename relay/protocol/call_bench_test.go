package protocol_test

import (
	"strings"
	"testing"

	"mpcrelay/relay/protocol"
)

// The decoding of one Session.message request with a 1 KiB body, the relay's hot path:
// DecodeCall (one pass, jsontext) against the reference DecodeRequest + UnmarshalJSON
// (encoding/json, several passes).
//
//	go test -run '^$' -bench Decode -benchmem ./relay/protocol/
var benchFrame = []byte(`{"jsonrpc":"2.0","id":17,"method":"Session.message","params":["` + gid + `","` + sid + `","keygen",{"round":1,"sender":1,"receiver":null,"uuid":"` + sid + `","body":"` + strings.Repeat("a", 1024) + `"}]}`)

func BenchmarkDecode(b *testing.B) {
	b.Run("one-pass", func(b *testing.B) {
		b.SetBytes(int64(len(benchFrame)))
		var c protocol.Call
		for b.Loop() {
			if err := protocol.DecodeCall(benchFrame, &c); err != nil || c.ParamsErr != nil {
				b.Fatal(err, c.ParamsErr)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(benchFrame)))
		for b.Loop() {
			req, _, err := protocol.DecodeRequest(benchFrame)
			if err != nil {
				b.Fatal(err)
			}
			var p protocol.SessionMessageParams
			if err := p.UnmarshalJSON(req.Params); err != nil {
				b.Fatal(err)
			}
		}
	})
}
