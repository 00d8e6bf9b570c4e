package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"mpcrelay/relay/protocol"
)

func init() {
	register("1.2", "Frames",
		// §1.2: Binary frames are ignored (MUST NOT close the connection).
		&Case{
			ID:          "1.2/binary-frame-ignored",
			Requirement: "A binary frame is ignored and does not close the connection.",
			Level:       Must, Labels: []string{"transport", "robustness"},
			Run: func(t *T) {
				a := t.Dial("A")
				ctx, cancel := t.ctxTimeout()
				defer cancel()
				if err := a.SendBinary(ctx, []byte{0x00, 0xff, 0x7b, 0x7d}); err != nil {
					t.Failf("the relay accepts a binary frame", "write failed: %v", err)
				}
				a.ExpectUsable()
			},
		},
		// §1.2: binary frames are ignored — also one that holds a request (a relay that reads
		// `Text(s) | Binary(s)` alike executes it).
		&Case{
			ID:          "1.2/binary-request-not-executed",
			Requirement: "A request in a binary frame is ignored: it is not executed (no success answers it) and the connection stays usable.",
			Level:       Must, Labels: []string{"transport", "robustness"},
			Run: func(t *T) {
				a := t.Dial("A")
				id := a.NextID()
				req, _ := protocol.NewRequest(id, protocol.MethodGroupCreate, protocol.GroupCreateParams{Label: t.Label(), Params: protocol.Parameters{Parties: 2, Threshold: 1}})
				ctx, cancel := t.ctxTimeout()
				defer cancel()
				if err := a.SendBinary(ctx, req); err != nil {
					t.Failf("the relay accepts a binary frame", "write failed: %v", err)
				}
				a.ExpectUsable() // answered in order (§1.3): an answer to the binary frame came before
				if i := a.ReceivedIndex(func(in protocol.Incoming) bool { return string(in.ID) == fmt.Sprint(id) && in.Error == nil }); i >= 0 {
					t.Failf("no success answering the request sent in a binary frame", "%s", a.Received()[i].Data)
				}
			},
		},
		// §1.2: Every frame is a text frame holding exactly one JSON object.
		&Case{
			ID:          "1.2/relay-frames-are-json-text",
			Requirement: "Every frame the relay writes — responses and events of a whole session — is a text frame holding exactly one JSON object.",
			Level:       Must, Labels: []string{"transport", "envelope"},
			Run: func(t *T) {
				s := t.ReadyKeygen(2, 1)
				a, b := s.Parties[0], s.Parties[1]
				s.Message(a, s.msg(s.Number[a], 0, "to all"))
				s.Message(b, s.msg(s.Number[b], s.Number[a], "to A"))
				finish := map[*Conn]string{}
				for _, c := range s.Parties {
					resp := c.OK(protocol.MethodSessionFinish, protocol.SessionFinishParams{GroupID: s.G.ID, SessionID: s.ID, Number: s.Number[c]}, nil)
					finish[c] = string(resp.ID)
				}
				// the last frames (the sessionClosed events) are awaited as frames of any kind, so a
				// frame the client cannot read still arrives here to be judged
				waitFor(t, "a frame after the finish response on every party", func() (bool, string) {
					for _, c := range s.Parties {
						frames := c.Received()
						at := -1
						for i, f := range frames {
							if in, err := protocol.DecodeIncoming(f.Data); !f.Binary && err == nil && string(in.ID) == finish[c] {
								at = i
							}
						}
						if at < 0 || at == len(frames)-1 {
							return false, c.Name + " has no frame after its finish response"
						}
					}
					return true, ""
				})
				for _, c := range s.Parties {
					for i, f := range c.Received() {
						if f.Binary {
							t.Failf(fmt.Sprintf("frame #%d on %s a text frame", i, c.Name), "a binary frame of %d bytes: %q", len(f.Data), short(json.RawMessage(f.Data)))
						}
						if err := oneJSONObject(f.Data); err != nil {
							t.Failf(fmt.Sprintf("frame #%d on %s exactly one JSON object", i, c.Name), "%v: %s", err, short(json.RawMessage(f.Data)))
						}
					}
				}
			},
		},
		// §1.2: Batches (JSON arrays) are not part of the protocol (INFO: ignored or rejected).
		&Case{
			ID:          "1.2/batch-ignored-or-rejected",
			Requirement: "A JSON-RPC batch is either ignored or rejected, and the connection stays usable.",
			Level:       Info, Labels: []string{"transport"},
			Run: func(t *T) {
				a := t.Dial("A")
				req, _ := protocol.NewRequest(a.NextID(), protocol.MethodGroupCreate, protocol.GroupCreateParams{Label: t.Label(), Params: protocol.Parameters{Parties: 2, Threshold: 1}})
				a.SendRaw([]byte("[" + string(req) + "]"))
				if f, ok := a.WaitUnmatched(t.cfg.QuietWindow); ok {
					t.Info("batch answered with %s", f.Data)
				} else {
					t.Info("batch ignored (no answer within %s)", t.cfg.QuietWindow)
				}
				a.ExpectUsable()
			},
		},
	)
	register("1.3", "Ordering",
		// §1.3: A relay processes the requests of one connection in the order they arrive.
		&Case{
			ID:          "1.3/requests-answered-in-order",
			Requirement: "Requests sent back to back on one connection are answered in the order they were sent.",
			Level:       Must, Labels: []string{"transport"},
			Run: func(t *T) {
				a := t.Dial("A")
				const n = 8
				var ids []uint64
				for i := 0; i < n; i++ {
					id := a.NextID()
					ids = append(ids, id)
					// alternate successes and errors so that work of different cost interleaves
					p := protocol.Parameters{Parties: 3, Threshold: 1}
					if i%2 == 1 {
						p.Parties = 1
					}
					req, _ := protocol.NewRequest(id, protocol.MethodGroupCreate, protocol.GroupCreateParams{Label: t.Label(), Params: p})
					a.SendRaw(req)
				}
				var got []string
				for i := 0; i < n; i++ {
					f, ok := a.WaitUnmatched(t.cfg.Timeout)
					if !ok {
						t.Failf(fmt.Sprintf("%d responses", n), "%d responses: %v", i, got)
					}
					in, err := protocol.DecodeIncoming(f.Data)
					if err != nil {
						t.Failf("a JSON-RPC response", "%s (%v)", f.Data, err)
					}
					got = append(got, string(in.ID))
				}
				var want []string
				for _, id := range ids {
					want = append(want, fmt.Sprint(id))
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Failf("response ids in request order "+fmt.Sprint(want), "%v", got)
				}
			},
		},
	)
	register("1.4", "Malformed frames",
		// §1.4: Frames that are not valid JSON MUST NOT crash the relay or close the connection.
		&Case{
			ID:          "1.4/garbage-keeps-connection-usable",
			Requirement: "Frames that are not JSON or not a request object do not close the connection.",
			Level:       Must, Labels: []string{"transport", "robustness"},
			Run: func(t *T) {
				a := t.Dial("A")
				for _, g := range []string{"not json{", "", "42", `"str"`, `{"jsonrpc":"2.0"}`, `{"jsonrpc":"1.0","id":999998,"method":"Group.create"}`, `{"id":{},"method":7}`, "\x00\x01"} {
					a.SendRaw([]byte(g))
				}
				a.ExpectUsable()
			},
		},
		// §1.4: SHOULD (JSON-RPC 2.0) answer -32700 (parse error); COMPAT: the original sends nothing.
		&Case{
			ID:          "1.4/parse-error-answered",
			Requirement: "A frame that is not JSON is answered with error -32700 and id null.",
			Level:       Should, Labels: []string{"transport", "errors"},
			Run: func(t *T) {
				a := t.Dial("A")
				a.SendRaw([]byte("{not json"))
				expectNullIDError(t, a, protocol.CodeParseError)
			},
		},
		// §1.4: SHOULD answer -32600 (invalid request).
		&Case{
			ID:          "1.4/invalid-request-answered",
			Requirement: "A JSON frame that is not a request object is answered with error -32600.",
			Level:       Should, Labels: []string{"transport", "errors"},
			Run: func(t *T) {
				a := t.Dial("A")
				a.SendRaw([]byte(`{"jsonrpc":"2.0","id":999999,"params":[]}`))
				expectNullIDError(t, a, protocol.CodeInvalidRequest)
			},
		},
	)
}

// oneJSONObject checks that data is exactly one JSON object (white space around it allowed).
func oneJSONObject(data []byte) error {
	d := json.NewDecoder(bytes.NewReader(data))
	var v json.RawMessage
	if err := d.Decode(&v); err != nil {
		return err
	}
	if len(v) == 0 || v[0] != '{' {
		return fmt.Errorf("a JSON value that is not an object")
	}
	if _, err := d.Token(); err != io.EOF {
		return fmt.Errorf("more after the first JSON value")
	}
	return nil
}

func expectNullIDError(t *T, c *Conn, code int) {
	f, ok := c.WaitUnmatched(t.cfg.QuietWindow + t.cfg.Timeout/4)
	if !ok {
		t.NonStrict("COMPAT: no answer (the original sends nothing)")
		return
	}
	in, err := protocol.DecodeIncoming(f.Data)
	if err != nil || in.Error == nil {
		t.Failf(fmt.Sprintf("an error response with code %d", code), "%s", f.Data)
	}
	if in.Error.Code != code {
		t.Failf(fmt.Sprintf("error code %d", code), "error code %d", in.Error.Code)
	}
}
