package protocol

import (
	jsonv2 "github.com/go-json-experiment/json"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// exactNames are encoding/json's decoding rules (go-json-experiment's v1 emulation: the last of
// duplicate names wins, null leaves a value as it is, invalid UTF-8 becomes U+FFFD) with one
// change: object member names match struct fields exactly, case included, as serde matches the
// fields of the original's structs. "Receiver" is then an unknown member, ignored (§4.7: the
// message is a broadcast), and {"ROUND":1} has no round (§3.5: -32602).
var exactNames = jsonv2.JoinOptions(jsonv1.DefaultOptionsV1(), jsonv2.MatchCaseInsensitiveNames(false))

// unmarshalExact is json.Unmarshal with member names matched exactly (exactNames).
func unmarshalExact(b []byte, v any) error { return jsonv2.Unmarshal(b, v, exactNames) }
