package model

import (
	"encoding/json"
	"fmt"

	"mpcrelay/conformance/jsonexact"
)

// frameKind classifies a frame a client sent (§1.2, §1.4, §2.1).
type frameKind int

const (
	fkBinary      frameKind = iota // ignored (§1.2)
	fkInvalidJSON                  // not JSON (§1.4: -32700 or nothing)
	fkBatch                        // a JSON array (§1.2 INFO)
	fkInvalid                      // JSON, not a request object (§1.4: -32600 or nothing)
	fkRequest                      // a request or notification (§2.1)
)

// request is a decoded client frame.
type request struct {
	kind      frameKind
	hasID     bool
	id        any // nil = "id":null
	idValid   bool
	method    string
	params    any
	hasParams bool
	h         int // handle reserved for the group or session it may create
}

func (r *request) notification() bool { return !r.hasID }

// what names the request for messages.
func (r *request) what() string {
	if !r.hasID {
		return fmt.Sprintf("answer to the notification %s", r.method)
	}
	enc, _ := json.Marshal(r.id)
	return fmt.Sprintf("response to %s (id %s)", r.method, enc)
}

func parseRequest(data []byte, binary bool) *request {
	if binary {
		return &request{kind: fkBinary}
	}
	v, err := jsonexact.Decode(data)
	if err != nil {
		return &request{kind: fkInvalidJSON}
	}
	switch v.(type) {
	case []any:
		return &request{kind: fkBatch}
	case map[string]any:
	default:
		return &request{kind: fkInvalid}
	}
	obj := v.(map[string]any)
	r := &request{kind: fkInvalid}
	if id, ok := obj["id"]; ok {
		r.hasID = true
		switch id.(type) {
		case nil, string, json.Number:
			r.id, r.idValid = id, true
		}
	}
	method, isString := obj["method"].(string)
	if obj["jsonrpc"] != "2.0" || !isString || (r.hasID && !r.idValid) {
		return r
	}
	r.kind = fkRequest
	r.method = method
	r.params, r.hasParams = obj["params"]
	return r
}
