package protocol_test

import (
	"encoding/json"
	"testing"

	"mpcrelay/relay/protocol"
)

// §2.3: parameters that do not decode into {"parties": u16, "threshold": u16} — a member missing
// or null — are -32602, not a rule's -32603 with a zero filled in. Names match exactly, as the
// original's serde matches them: "Parties" is an unknown member, so parties is missing.
func TestParametersDecodeStrictly(t *testing.T) {
	for _, bad := range []string{`{"parties":3}`, `{"threshold":1}`, `{"parties":3,"threshold":null}`, `{"parties":null,"threshold":1}`,
		`{"parties":3,"threshold":1,"parties":null}`, `{}`, `null`, `[3,1]`, `{"parties":65536,"threshold":1}`, `{"parties":"3","threshold":1}`,
		`{"Parties":3,"threshold":1}`, `{"parties":3,"THRESHOLD":1}`} {
		var p protocol.Parameters
		if err := json.Unmarshal([]byte(bad), &p); err == nil {
			t.Errorf("%s decoded as %+v, want an error", bad, p)
		}
	}
	for _, good := range []string{`{"threshold":1,"parties":3,"extra":true,"Parties":9}`, `{"parties":3,"threshold":1,"Threshold":null}`} {
		var p protocol.Parameters
		if err := json.Unmarshal([]byte(good), &p); err != nil || p != (protocol.Parameters{Parties: 3, Threshold: 1}) {
			t.Errorf("%s: got %+v, %v; want {3 1}", good, p, err)
		}
	}
}

// The relay's one-pass decoder agrees: Group.create with a parameter missing or null is -32602.
func TestDecodeCallParametersMissing(t *testing.T) {
	for _, params := range []string{`{"parties":3}`, `{"parties":3,"threshold":null}`, `{"threshold":1}`, `{}`} {
		var c protocol.Call
		frame := `{"jsonrpc":"2.0","id":1,"method":"Group.create","params":["l",` + params + `]}`
		if err := protocol.DecodeCall([]byte(frame), &c); err != nil || c.ParamsErr == nil || c.ParamsErr.Code != protocol.CodeInvalidParams {
			t.Errorf("%s: decode error %v, params error %v; want a -32602 params error", params, err, c.ParamsErr)
		}
	}
}
