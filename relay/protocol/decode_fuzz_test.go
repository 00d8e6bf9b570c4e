package protocol_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"mpcrelay/relay/protocol"
)

// paramTypes builds one value of every method's params type (§4).
var paramTypes = map[string]func() any{
	protocol.MethodGroupCreate:    func() any { return new(protocol.GroupCreateParams) },
	protocol.MethodGroupJoin:      func() any { return new(protocol.GroupJoinParams) },
	protocol.MethodSessionCreate:  func() any { return new(protocol.SessionCreateParams) },
	protocol.MethodSessionJoin:    func() any { return new(protocol.SessionParams) },
	protocol.MethodSessionLoad:    func() any { return new(protocol.SessionLoadParams) },
	protocol.MethodSessionMessage: func() any { return new(protocol.SessionMessageParams) },
	protocol.MethodSessionFinish:  func() any { return new(protocol.SessionFinishParams) },
	protocol.MethodNotifyProposal: func() any { return new(protocol.NotifyProposalParams) },
	protocol.MethodNotifySigned:   func() any { return new(protocol.NotifySignedParams) },
}

// FuzzDecodeRequest feeds arbitrary frames to the request decoder and every params decoder.
// Properties: nothing panics; a refused frame gets -32700 or -32600 (§1.4) and an answer that is
// valid JSON; params that decode re-encode to the positional form and decode again to the same
// value. The seed corpus is testdata/fuzz/FuzzDecodeRequest (run by every `go test`).
func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"method":"Group.join","params":"6f2c8a1e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"}`))
	f.Fuzz(func(t *testing.T, frame []byte) {
		req, id, perr := protocol.DecodeRequest(frame)
		if perr != nil {
			if perr.Code != protocol.CodeParseError && perr.Code != protocol.CodeInvalidRequest {
				t.Fatalf("refusal code %d, want -32700 or -32600", perr.Code)
			}
			if req != nil {
				t.Fatalf("refused frame also returned a request")
			}
			answerID := id
			if answerID == nil {
				answerID = protocol.NullID
			}
			if ans := protocol.EncodeError(answerID, perr); !json.Valid(ans) {
				t.Fatalf("answer to a refused frame is not JSON: %s", ans)
			}
			return
		}
		if req.IsNotification() != (id == nil) {
			t.Fatalf("id %s but IsNotification %v", id, req.IsNotification())
		}
		if id != nil && !json.Valid(id) {
			t.Fatalf("id %q is not JSON", id)
		}
		if ans := protocol.EncodeError(id, protocol.ErrMethodNotFound(req.Method)); !json.Valid(ans) {
			t.Fatalf("answer is not JSON: %s", ans)
		}
		for method, newParams := range paramTypes {
			p := newParams()
			if err := json.Unmarshal(req.Params, p); err != nil {
				continue
			}
			enc, err := json.Marshal(p)
			if err != nil {
				t.Fatalf("%s: decoded params do not encode: %v", method, err)
			}
			q := newParams()
			if err := json.Unmarshal(enc, q); err != nil {
				t.Fatalf("%s: %s does not decode again: %v", method, enc, err)
			}
			again, err := json.Marshal(q)
			if err != nil || !bytes.Equal(enc, again) {
				t.Fatalf("%s: round trip changed %s into %s (%v)", method, enc, again, err)
			}
		}
	})
}
