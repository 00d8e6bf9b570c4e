package breakage

// Bugs of the third red-team pass (realistic.go lists them): a request fast path that matches
// bytes instead of reading JSON, and a connection that only listens taken for a dead one.

import (
	"bytes"
	"encoding/json"

	"mpcrelay/faultproxy"
	"mpcrelay/relay/protocol"
)

// fastPath refuses, with -32600 and id null, the requests whose frame misread says a fast path
// that matches bytes, not JSON, cannot read (it finds no method and no id in them).
func fastPath(misread func(frame []byte) bool) func() []faultproxy.Rule {
	return only(faultproxy.Rule{Name: "fast-path", Dir: faultproxy.ToRelay, Match: func(f *faultproxy.Frame) bool { return f.RPC.Kind == faultproxy.KindRequest }, Apply: func(f *faultproxy.Frame) {
		if misread(f.Data) {
			f.Drop()
			f.Inject(f.Conn, faultproxy.ToClient, protocol.EncodeError(json.RawMessage("null"), protocol.ErrInvalidRequest("not a request object")))
		}
	}})
}

// envelopeNotFirst: the fast path wants the frame to open with the jsonrpc member (as
// JSON.stringify and encoding/json of a struct write it); white space it skips.
func envelopeNotFirst(frame []byte) bool {
	return !bytes.HasPrefix(bytes.TrimLeft(frame, " \t\r\n{"), []byte(`"jsonrpc"`))
}

// memberNamesEscaped: the fast path looks for the member names as bytes, so an escaped one
// ("m\u0065thod") is not found.
func memberNamesEscaped(frame []byte) bool {
	return !bytes.Contains(frame, []byte(`"method"`)) || !bytes.Contains(frame, []byte(`"params"`))
}

// silentReceiverDropped closes a connection that was written more than 256 events in a row
// while it sent nothing: a liveness heuristic ("256 frames out and not a word back: dead")
// that drops a party which only listens while another streams a round.
func silentReceiverDropped() []faultproxy.Rule {
	silent := map[*faultproxy.Conn]int{}
	return []faultproxy.Rule{
		{Name: "heard", Dir: faultproxy.ToRelay, Apply: func(f *faultproxy.Frame) { silent[f.Conn] = 0 }},
		{Name: "drop", Dir: faultproxy.ToClient, Match: faultproxy.Event(""), Apply: func(f *faultproxy.Frame) {
			silent[f.Conn]++
			if silent[f.Conn] > 256 {
				f.Close(1008, "no sign of life")
			}
		}},
	}
}
