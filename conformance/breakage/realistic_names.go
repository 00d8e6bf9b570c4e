package breakage

// A relay that reads member names case-insensitively: Go's encoding/json matches a JSON member
// to a struct field by Unicode case folding ("Receiver" fills Receiver, "ROUND" fills Round), so
// a relay that decodes requests into tagged structs with it — the reference relay did, until its
// decoders were made to match names exactly as the original's serde does — reads members that
// the protocol does not have.

import (
	"encoding/json"
	"slices"
	"strings"

	"mpcrelay/faultproxy"
	"mpcrelay/relay/protocol"
)

// namesFolded hands the relay each request as such a relay reads it: the envelope, the
// parameters of Group.create (§3.1) and the message of Session.message (§3.5), decoded with
// encoding/json into structs and written again with the exact names. A request in which no
// member name differs from a protocol name only by case goes through untouched, and so does one
// encoding/json refuses (the relay answers it itself).
var namesFolded = only(faultproxy.Rule{Name: "fold-names", Dir: faultproxy.ToRelay, Match: func(f *faultproxy.Frame) bool { return !f.Binary }, Apply: func(f *faultproxy.Frame) {
	if b, ok := readFolded(f.Data); ok {
		f.Replace(b)
	}
}})

var (
	envelopeNames   = []string{"jsonrpc", "id", "method", "params"}
	parameterNames  = []string{"parties", "threshold"}
	messageNames    = []string{"round", "sender", "receiver", "uuid", "body"}
	paramsWithNames = map[string]struct {
		at    int      // the element holding the object
		names []string // its member names
		fold  func(json.RawMessage) (json.RawMessage, bool)
	}{
		protocol.MethodGroupCreate:    {1, parameterNames, foldParameters},
		protocol.MethodSessionMessage: {3, messageNames, foldMessage},
	}
)

// readFolded returns the frame as a case-insensitive reader sees it, and whether that differs.
func readFolded(frame []byte) ([]byte, bool) {
	var env struct {
		JSONRPC *string         `json:"jsonrpc,omitempty"`
		ID      json.RawMessage `json:"id,omitempty"`
		Method  *string         `json:"method,omitempty"`
		Params  json.RawMessage `json:"params,omitempty"`
	}
	if json.Unmarshal(frame, &env) != nil {
		return nil, false
	}
	changed := namesDifferInCase(frame, envelopeNames)
	if env.Method != nil {
		if p, ok := paramsWithNames[*env.Method]; ok {
			var elems []json.RawMessage
			if json.Unmarshal(env.Params, &elems) == nil && len(elems) > p.at && namesDifferInCase(elems[p.at], p.names) {
				if obj, ok := p.fold(elems[p.at]); ok {
					elems[p.at] = obj
					env.Params, _ = json.Marshal(elems)
					changed = true
				}
			}
		}
	}
	if !changed {
		return nil, false
	}
	b, err := json.Marshal(env)
	return b, err == nil
}

// namesDifferInCase reports whether obj (a JSON object) has a member whose name is one of names
// in another case (as encoding/json folds them), but not exactly.
func namesDifferInCase(obj json.RawMessage, names []string) bool {
	var members map[string]json.RawMessage
	if json.Unmarshal(obj, &members) != nil {
		return false
	}
	for k := range members {
		if !slices.Contains(names, k) && slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(k, n) }) {
			return true
		}
	}
	return false
}

func foldParameters(obj json.RawMessage) (json.RawMessage, bool) {
	var p struct {
		Parties   *uint16 `json:"parties,omitempty"`
		Threshold *uint16 `json:"threshold,omitempty"`
	}
	return refold(obj, &p)
}

func foldMessage(obj json.RawMessage) (json.RawMessage, bool) {
	var m struct {
		Round    *uint16         `json:"round,omitempty"`
		Sender   *uint16         `json:"sender,omitempty"`
		Receiver *uint16         `json:"receiver,omitempty"`
		UUID     *string         `json:"uuid,omitempty"`
		Body     json.RawMessage `json:"body,omitempty"`
	}
	return refold(obj, &m)
}

// refold decodes obj into v with encoding/json and encodes v again (exact names).
func refold(obj json.RawMessage, v any) (json.RawMessage, bool) {
	if json.Unmarshal(obj, v) != nil {
		return nil, false
	}
	b, err := json.Marshal(v)
	return b, err == nil
}
