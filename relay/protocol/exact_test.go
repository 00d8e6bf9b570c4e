package protocol_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"mpcrelay/relay/protocol"
)

// Member names match exactly, case included, in both decoders, as the original's serde matches
// them: a member named in another case is unknown and ignored (§3.5, §4.7, §2.1, §3.1).
func TestMemberNamesAreExact(t *testing.T) {
	msg := func(m string) string {
		return `{"jsonrpc":"2.0","id":1,"method":"Session.message","params":["` + gid + `","` + sid + `","keygen",` + m + `]}`
	}
	create := func(params string) string {
		return `{"jsonrpc":"2.0","id":1,"method":"Group.create","params":["l",` + params + `]}`
	}
	for _, tc := range []struct {
		name, frame string
		check       func(c *protocol.Call) string
	}{
		{"Receiver is no receiver: a broadcast (§4.7)", msg(`{"round":1,"sender":1,"Receiver":2,"uuid":"` + sid + `","body":1}`), func(c *protocol.Call) string {
			if c.ParamsErr != nil || !c.Params.SessionMessage.Message.Broadcast() {
				return "want a broadcast"
			}
			return ""
		}},
		{"a later RECEIVER does not unset receiver", msg(`{"round":1,"sender":1,"receiver":2,"RECEIVER":null,"uuid":"` + sid + `"}`), func(c *protocol.Call) string {
			if c.ParamsErr != nil || c.Params.SessionMessage.Message.Receiver == nil || *c.Params.SessionMessage.Message.Receiver != 2 {
				return "want receiver 2"
			}
			return ""
		}},
		{"ROUND is no round: -32602 (§3.5)", msg(`{"ROUND":1,"sender":1,"uuid":"` + sid + `"}`), paramsRefused},
		{"ſender (folds to sender) is no sender", msg(`{"round":1,"ſender":1,"uuid":"` + sid + `"}`), paramsRefused},
		{"UUID is no uuid", msg(`{"round":1,"sender":1,"UUID":"` + sid + `"}`), paramsRefused},
		{"Parties is no parties: -32602 (§3.1, §2.3)", create(`{"Parties":3,"threshold":1}`), paramsRefused},
		{"PARAMS is no params: -32602 (§2.3)", `{"jsonrpc":"2.0","id":1,"method":"Group.create","PARAMS":["l",{"parties":3,"threshold":1}]}`, paramsRefused},
		{"ID is no id: a notification (§2.1)", `{"jsonrpc":"2.0","ID":1,"method":"Group.create","params":["l",{"parties":3,"threshold":1}]}`, func(c *protocol.Call) string {
			if !c.IsNotification() || c.ParamsErr != nil {
				return "want a notification with good params"
			}
			return ""
		}},
	} {
		var c protocol.Call
		if err := protocol.DecodeCall([]byte(tc.frame), &c); err != nil {
			t.Errorf("%s: DecodeCall refused the frame: %v", tc.name, err)
			continue
		}
		if msg := tc.check(&c); msg != "" {
			t.Errorf("%s: DecodeCall: %s, got %s", tc.name, msg, decoded(&c))
		}
		// the reference decoders: DecodeRequest, then the params type's UnmarshalJSON
		req, _, perr := protocol.DecodeRequest([]byte(tc.frame))
		if perr != nil {
			t.Errorf("%s: DecodeRequest refused the frame: %v", tc.name, perr)
			continue
		}
		ref := protocol.Call{ID: req.ID, Method: req.Method}
		var err error
		switch req.Method {
		case protocol.MethodSessionMessage:
			err = json.Unmarshal(req.Params, &ref.Params.SessionMessage)
		case protocol.MethodGroupCreate:
			err = json.Unmarshal(req.Params, &ref.Params.GroupCreate)
		}
		if req.Params == nil || err != nil {
			ref.ParamsErr = protocol.ErrInvalidParams("params")
		}
		if msg := tc.check(&ref); msg != "" {
			t.Errorf("%s: DecodeRequest + UnmarshalJSON: %s, got %s", tc.name, msg, decoded(&ref))
		}
	}
}

func paramsRefused(c *protocol.Call) string {
	if c.ParamsErr == nil || c.ParamsErr.Code != protocol.CodeInvalidParams {
		return "want params refused -32602"
	}
	return ""
}

func decoded(c *protocol.Call) string {
	m := c.Params.SessionMessage.Message
	return fmt.Sprintf("id %s, params error %v, message receiver %v, group parameters %+v", c.ID, c.ParamsErr, m.Receiver, c.Params.GroupCreate.Params)
}
