// Package traces holds the checked-in trace of real signed traffic, so that replay works on a
// fresh clone. gg18-eddsa-2of3.jsonl was recorded with
//
//	mpcrelay bench --scenario scenarios/examples/record-ecdsa.yaml --record ecdsa.jsonl
//	mpcrelay bench --scenario scenarios/examples/record-eddsa.yaml --record eddsa.jsonl
//	cat ecdsa.jsonl eddsa.jsonl > scenarios/traces/gg18-eddsa-2of3.jsonl
//
// (real tss-lib sessions through the embedded relay: an ECDSA (GG18) 2-of-3 keygen and two
// signings, an EdDSA 2-of-3 keygen and two signings; sizes and timing only, no bodies).
package traces

import (
	"bytes"
	_ "embed"

	"mpcrelay/scenarios/trace"
)

// DefaultName names the checked-in trace in results.
const DefaultName = "gg18-eddsa-2of3.jsonl (checked in)"

//go:embed gg18-eddsa-2of3.jsonl
var defaultTrace []byte

// Default returns the checked-in trace.
func Default() (*trace.Trace, error) { return trace.Read(bytes.NewReader(defaultTrace)) }
