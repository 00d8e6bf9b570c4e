package protocol_test

import (
	"encoding/json"
	"testing"

	"mpcrelay/relay/protocol"
)

// §2.3: parameters that do not decode into {"parties": u16, "threshold": u16} — a member missing
// or null, a name in another case — are -32602, not a rule's -32603 with a zero filled in.
func TestParametersDecodeStrictly(t *testing.T) {
	for _, bad := range []string{`{"parties":3}`, `{"threshold":1}`, `{"parties":3,"threshold":null}`, `{"parties":null,"threshold":1}`,
		`{"Parties":3,"threshold":1}`, `{"parties":3,"Threshold":1}`, `null`, `[3,1]`, `{"parties":65536,"threshold":1}`, `{"parties":"3","threshold":1}`} {
		var p protocol.Parameters
		if err := json.Unmarshal([]byte(bad), &p); err == nil {
			t.Errorf("%s decoded as %+v, want an error", bad, p)
		}
	}
	var p protocol.Parameters
	if err := json.Unmarshal([]byte(`{"threshold":1,"parties":3,"extra":true}`), &p); err != nil || p != (protocol.Parameters{Parties: 3, Threshold: 1}) {
		t.Errorf("got %+v, %v; want {3 1}", p, err)
	}
}
