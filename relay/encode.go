package relay

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// marshal encodes v as JSON the way the client wrote it: without encoding/json's HTML escaping,
// which turns each '<', '>' and '&' of a label, session value or proposal into six bytes
// (\u003c). A 1 MiB proposal of '<' would reach its receivers as a 6 MiB event, past the send
// queue's byte bound (§6.2) and a cluster's NATS max_payload; the original relay (serde_json)
// does not escape them either.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'}), nil
}

// mustJSON encodes a value the relay built itself; failing is a bug.
func mustJSON(v any) json.RawMessage {
	b, err := marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encode %T: %v", v, err)) // recovered by dispatch: -32603
	}
	return b
}
