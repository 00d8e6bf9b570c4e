package protocol_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"mpcrelay/relay/protocol"
)

const (
	gid = "6f2c8a1e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
	sid = "0b6c3f0e-9d1a-4c2b-8e7f-5a4b3c2d1e0f"
)

// callSeeds are frames at the edges of the rules that the two decoders must agree on: envelope
// forms (§1.4, §2.1), exact member names (names in another case, or folding to the name, are
// unknown members) and duplicates, every params shape (§4,
// §2.3: arity, u16 range, uuid forms, kinds, null), and broken JSON.
var callSeeds = []string{
	`{"jsonrpc":"2.0","id":1,"method":"Session.message","params":["` + gid + `","` + sid + `","keygen",{"round":1,"sender":1,"receiver":null,"uuid":"` + sid + `","body":"abc"}]}`,
	`{"jsonrpc":"2.0","id":2,"method":"Session.message","params":["` + gid + `","` + sid + `","sign",{"round":65535,"sender":2,"receiver":3,"uuid":"` + sid + `","body":{"a":[1,2,{"b":null}]}}]}`,
	`{"params":["` + gid + `","` + sid + `","keygen",{"round":1,"sender":1,"uuid":"` + sid + `"}],"method":"Session.message","id":3,"jsonrpc":"2.0"}`,
	`{"jsonrpc":"2.0","id":4,"method":"Session.message","params":["` + gid + `","` + sid + `","keygen",{"round":1,"sender":1,"uuid":"` + sid + `"}],"method":"Session.finish"}`,
	`{"jsonrpc":"2.0","id":5,"method":"Session.finish","params":[1],"params":["` + gid + `","` + sid + `",2]}`,
	`{"JSONRPC":"2.0","Id":6,"METHOD":"Group.join","\u0070arams":"` + gid + `"}`,
	`{"jsonrpc":"2.0","id":7,"method":"Group.join","paramſ":"` + gid + `"}`,
	`{"jsonrpc":"2.0","\u0130d":7,"method":"Group.join","params":"` + gid + `"}`,
	`{"jsonrpc":"2.0","id":null,"method":"Group.join","params":"` + gid + `"}`,
	`{"jsonrpc":"2.0","id":"x","method":"Group.join","params":"{` + gid + `}"}`,
	`{"jsonrpc":"2.0","id":-1.5e3,"method":"Group.join","params":"urn:uuid:` + gid + `"}`,
	`{"jsonrpc":"2.0","id":true,"method":"Group.join"}`,
	`{"jsonrpc":"2.0","id":[1],"method":"Group.join"}`,
	`{"jsonrpc":"2.0","id":{},"method":"Group.join"}`,
	`{"jsonrpc":2.0,"id":1,"method":"Group.join"}`,
	`{"jsonrpc":null,"id":1,"method":"Group.join"}`,
	`{"jsonrpc":"\u0032.0","id":1,"method":"Group.join","params":"6f2c8a1e3b4d4e5f8a9b0c1d2e3f4a5b"}`,
	`{"jsonrpc":"2.0","id":1,"method":"Group.join","jsonrpc":"1.0"}`,
	`{"id":1,"method":"Group.join"}`,
	`{"jsonrpc":"2.0","id":1,"method":5}`,
	`{"jsonrpc":"2.0","id":1,"method":null}`,
	`{"jsonrpc":"2.0","id":1,"method":"Group.join","method":[]}`,
	`{"jsonrpc":"2.0","id":1}`,
	`{"jsonrpc":"2.0","id":1,"method":"Nope.nope","params":{"x":1}}`,
	`{"jsonrpc":"2.0","id":1,"method":"Group.cre\u0061te","params":["l",{"parties":3,"threshold":1}]}`,
	"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"Group.create\xff\",\"params\":[]}",
	"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"Group.create\",\"params\":[\"l\xff\\ud800\",{\"parties\":3,\"threshold\":1}]}",
	`{"jsonrpc":"2.0","id":1,"method":"Group.create","params":["l",{"parties":3,"threshold":1,"parties":null}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Group.create","params":["l",{"PARTIES":3,"threshold":"1"}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Group.create","params":["l",{"parties":65536,"threshold":1}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Group.create","params":["l",{"parties":-0,"threshold":1.0}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Group.create","params":["l",{"parties":1e1,"threshold":1}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Group.create","params":["l",{}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Group.create","params":["l",[]]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Group.create","params":[null,{"parties":3,"threshold":1}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Group.create","params":["l",{"parties":3,"threshold":1},3]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Group.create","params":null}`,
	`{"jsonrpc":"2.0","id":1,"method":"Group.create","params":{}}`,
	`{"jsonrpc":"2.0","id":1,"method":"Group.join","params":null}`,
	`{"jsonrpc":"2.0","id":1,"method":"Group.join","params":5}`,
	`{"jsonrpc":"2.0","id":1,"method":"Group.join","params":["` + gid + `"]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Group.join","params":"not-a-uuid"}`,
	`{"jsonrpc":"2.0","method":"Session.create","params":["` + gid + `","keygen"]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Session.create","params":["` + gid + `","sign",{"msg": [ 1 , 2 ] }]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Session.create","params":["` + gid + `","sign",null]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Session.create","params":["` + gid + `","Keygen",null]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Session.create","params":["` + gid + `","\u006beygen",null]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Session.create","params":["` + gid + `"]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Session.join","params":["` + gid + `","` + sid + `","keygen"]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Session.signup","params":["` + gid + `","` + sid + `",null]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Session.load","params":["` + gid + `","` + sid + `","keygen",2]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Session.load","params":["` + gid + `","` + sid + `","keygen","2"]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Session.load","params":["` + gid + `","` + sid + `","keygen",70000]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Session.finish","params":["` + gid + `","` + sid + `",0]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Session.message","params":["` + gid + `","` + sid + `","keygen",{"sender":1,"uuid":"` + sid + `"}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Session.message","params":["` + gid + `","` + sid + `","keygen",{"round":1,"round":null,"sender":1,"uuid":"` + sid + `"}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Session.message","params":["` + gid + `","` + sid + `","keygen",{"round":"1","round":1,"sender":1,"uuid":"` + sid + `"}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Session.message","params":["` + gid + `","` + sid + `","keygen",{"ROUND":1,"Sender":1,"uuid":null,"uuid":"` + sid + `","receiver":2,"receiver":null,"body":1,"body":[2]}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Session.message","params":["` + gid + `","` + sid + `","keygen",{"round":1,"sender":1,"Receiver":2,"uuid":"` + sid + `","body":1}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Session.message","params":["` + gid + `","` + sid + `","keygen",{"round":1,"sender":1,"receiver":2,"RECEIVER":null,"uuid":"` + sid + `"}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Session.message","params":["` + gid + `","` + sid + `","keygen",{"round":1,"sender":1,"receiver":null,"receiveR":2,"uuid":"` + sid + `"}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Session.message","params":["` + gid + `","` + sid + `","keygen",{"ROUND":1,"sender":1,"uuid":"` + sid + `"}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Session.message","params":["` + gid + `","` + sid + `","keygen",{"Round":1,"round":2,"sender":1,"Uuid":"x","uuid":"` + sid + `","Body":5}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Session.message","params":["` + gid + `","` + sid + `","keygen",{"round":1,"ſender":1,"uuid":"` + sid + `"}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Session.message","params":["` + gid + `","` + sid + `","keygen",{"round":1,"sender":1,"UUID":"` + sid + `"}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Session.message","params":["` + gid + `","` + sid + `","keygen",{"round":1,"sender":1,"uuid":"` + sid + `","r\u0065ceiver":2,"BODY":"x"}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Session.message","params":["` + gid + `","` + sid + `","keygen",{"round":1,"sender":1,"uuid":"` + sid + `","\u0052eceiver":2}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Group.create","params":["l",{"Parties":3,"threshold":1}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Group.create","params":["l",{"parties":3,"threshold":1,"Threshold":null,"PARTIES":"x"}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Group.create","params":["l",{"parties":3,"thresholD":1}]}`,
	`{"jsonrpc":"2.0","ID":1,"method":"Group.create","params":["l",{"parties":3,"threshold":1}]}`,
	`{"jsonrpc":"2.0","id":1,"Method":"Group.create","params":["l",{"parties":3,"threshold":1}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Group.create","Params":["l",{"parties":3,"threshold":1}]}`,
	`{"Jsonrpc":"2.0","id":1,"method":"Group.create","params":["l",{"parties":3,"threshold":1}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Group.join","params":"` + gid + `","Method":"Group.create","PARAMS":5,"Id":"x"}`,
	`{"jsonrpc":"2.0","id":1,"method":"Session.message","params":["` + gid + `","` + sid + `","keygen",{"round":1,"sender":1,"uuid":"x"}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Session.message","params":["` + gid + `","` + sid + `","keygen",{"round":1,"sender":1,"uuid":5}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Session.message","params":["` + gid + `","` + sid + `","keygen","message"]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Session.message","params":["` + gid + `","` + sid + `","keygen",{"round":1,"sender":1,"uuid":"` + sid + `","receiver":-1}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Notify.proposal","params":["` + gid + `","` + sid + `","p","m"]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Notify.proposal","params":["` + gid + `","` + sid + `",1,"m"]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Notify.signed","params":["` + gid + `","` + sid + `",{"sig":"0x00"}]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Notify.signed","params":["` + gid + `","` + sid + `"]}`,
	` {"jsonrpc":"2.0","id":1,"method":"Group.join","params":"` + gid + `"} ` + "\n\t",
	`{"jsonrpc":"2.0","id":1,"method":"Group.join","params":"` + gid + `"} x`,
	`{"jsonrpc":"2.0","id":1,"method":"Group.join"} {}`,
	`{"jsonrpc":"2.0","id":1,"method":"Group.join",}`,
	`{"jsonrpc":"2.0","id":1,"method":"Group.join","params":[1,2,]}`,
	`{"jsonrpc":"2.0","id":1,"method":"Session.finish","params":["` + gid + `","` + sid + `",1 }`,
	`{"jsonrpc":"2.0","id":01,"method":"Group.join"}`,
	"{\"jsonrpc\":\"2.0\",\"id\":\"a\x01\",\"method\":\"Group.join\"}",
	`{"jsonrpc":"2.0","id":"\ud800\udc00\uDFFF","method":"Group.join"}`,
	`{"jsonrpc":"2.0","id":"\x","method":"Group.join"}`,
	``, ` `, `null`, `1`, `"s"`, `[]`, `[{"jsonrpc":"2.0"}]`, `[1,]`, `{`, `}`, `{"a"}`, `{"a":}`, "\xef\xbb\xbf{}",
	`{"jsonrpc":"2.0","id":1,"method":"Session.message","params":[` + strings.Repeat("[", 5000) + `]}`,
	`{"x":` + strings.Repeat("[", 9998) + strings.Repeat("]", 9998) + `,"jsonrpc":"2.0","id":1,"method":"Group.join"}`,
	`{"x":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `,"jsonrpc":"2.0","id":1,"method":"Group.join"}`,
	`{"x":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `,"jsonrpc":"2.0","id":1,"method":"Group.join"}`,
}

// FuzzDecodeCallMatchesDecodeRequest is the differential test of the one-pass decoder: every
// frame goes to DecodeCall and to the reference, DecodeRequest (encoding/json) followed by the
// method's params UnmarshalJSON, which is how the relay decoded requests before. They must
// accept and refuse alike, with the same error code and id; an accepted request must have the
// same method and, for a §4 method, params refused alike (-32602) or decoded to equal values,
// raw values byte for byte. The seeds (and testdata/fuzz/FuzzDecodeCallMatchesDecodeRequest)
// run in every `go test`.
func FuzzDecodeCallMatchesDecodeRequest(f *testing.F) {
	for _, s := range callSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		var c protocol.Call
		perr := protocol.DecodeCall(frame, &c)
		req, id, want := protocol.DecodeRequest(frame)
		if (perr == nil) != (want == nil) {
			t.Fatalf("%q:\nExpected: error %v\nActual:   error %v", frame, want, perr)
		}
		if want != nil {
			if perr.Code != want.Code || !bytes.Equal(c.ID, id) || (c.ID == nil) != (id == nil) {
				t.Fatalf("%q:\nExpected: %d with id %q\nActual:   %d with id %q", frame, want.Code, id, perr.Code, c.ID)
			}
			return
		}
		if !bytes.Equal(c.ID, req.ID) || (c.ID == nil) != (req.ID == nil) || c.Method != req.Method {
			t.Fatalf("%q:\nExpected: id %q method %q\nActual:   id %q method %q", frame, req.ID, req.Method, c.ID, c.Method)
		}
		got := callParams(&c)
		if got == nil { // not a §4 method: answered -32601, params unread
			return
		}
		ref := reflect.New(reflect.TypeOf(got).Elem()).Interface()
		var refErr error
		if req.Params == nil {
			refErr = protocol.ErrInvalidParams("missing params")
		} else {
			refErr = ref.(json.Unmarshaler).UnmarshalJSON(req.Params)
		}
		if (refErr == nil) != (c.ParamsErr == nil) {
			t.Fatalf("%q:\nExpected: params error %v\nActual:   params error %v", frame, refErr, c.ParamsErr)
		}
		if c.ParamsErr != nil {
			if c.ParamsErr.Code != protocol.CodeInvalidParams {
				t.Fatalf("%q: params error code %d, want -32602", frame, c.ParamsErr.Code)
			}
			return
		}
		if !reflect.DeepEqual(ref, got) {
			t.Fatalf("%q:\nExpected: %+v\nActual:   %+v", frame, ref, got)
		}
	})
}

// callParams returns the decoded params of c's method, or nil for a method outside §4.
func callParams(c *protocol.Call) any {
	p := &c.Params
	switch c.Method {
	case protocol.MethodGroupCreate:
		return &p.GroupCreate
	case protocol.MethodGroupJoin:
		return &p.GroupJoin
	case protocol.MethodSessionCreate:
		return &p.SessionCreate
	case protocol.MethodSessionJoin, protocol.MethodSessionSignup:
		return &p.Session
	case protocol.MethodSessionLoad:
		return &p.SessionLoad
	case protocol.MethodSessionMessage:
		return &p.SessionMessage
	case protocol.MethodSessionFinish:
		return &p.SessionFinish
	case protocol.MethodNotifyProposal:
		return &p.NotifyProposal
	case protocol.MethodNotifySigned:
		return &p.NotifySigned
	}
	return nil
}
