package protocol

import (
	"bytes"
	"encoding/json"
	"io"
	"sync"

	"github.com/go-json-experiment/json/jsontext"
)

// Call is a request decoded in one pass by DecodeCall (the relay's hot path): the envelope,
// and the params of its method taken apart into that method's params type. Raw parts — ID, a
// session's value, a message's body — alias the frame: they are valid while the frame is.
//
// DecodeCall accepts and refuses exactly what DecodeRequest followed by the method's
// UnmarshalJSON does, with the same error codes; FuzzDecodeCallMatchesDecodeRequest holds the
// two together. Their rules are encoding/json's but for member names, which match exactly, case
// included, as the original's serde matches them (a member named in another case is unknown and
// ignored: "Receiver" is no receiver, §4.7; "ROUND" is no round, §3.5): the last of duplicate
// names wins, null leaves a number unset, invalid UTF-8 in a string becomes U+FFFD.
type Call struct {
	ID     json.RawMessage // nil: a notification (§2.1)
	Method string
	// ParamsErr is the -32602 answer when the method is one of §4 and its params are missing
	// or do not have its shape (§2.3); the params below are then meaningless.
	ParamsErr *Error
	Params    CallParams

	receiver uint16 // Params.SessionMessage.Message.Receiver points here
}

// IsNotification reports whether the request has no id (§2.1).
func (c *Call) IsNotification() bool { return c.ID == nil }

// CallParams holds the params of a call; only the field of its method is filled.
type CallParams struct {
	GroupCreate    GroupCreateParams
	GroupJoin      GroupJoinParams
	SessionCreate  SessionCreateParams
	Session        SessionParams // Session.join, Session.signup
	SessionLoad    SessionLoadParams
	SessionMessage SessionMessageParams
	SessionFinish  SessionFinishParams
	NotifyProposal NotifyProposalParams
	NotifySigned   NotifySignedParams
}

// jsontext is the tokenizer: it validates the frame and yields every token and raw value in a
// single scan without allocating, and reads a bytes.Buffer's bytes in place, so raw values are
// sub-slices of the frame. The options make its validity rules those of encoding/json.Valid.
var decodeOptions = []jsontext.Options{jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)}

type callDecoder struct {
	d        jsontext.Decoder
	in       bytes.Buffer
	frame    []byte  // what d reads
	receiver *uint16 // where a message's receiver goes (Call.receiver)
}

var callDecoders = sync.Pool{New: func() any { return new(callDecoder) }}

// envelope member names (§2.1), matched exactly.
const (
	nameJSONRPC = "jsonrpc"
	nameID      = "id"
	nameMethod  = "method"
	nameParams  = "params"
)

// DecodeCall decodes one text frame (§1.2, §1.4, §2.1, §4) into c. A frame that is not a
// request gets the error to answer with (-32700 or -32600, §1.4), with c.ID set to the id when
// one could be read (nil otherwise, answered as "id":null). A request whose method is known but
// whose params are wrong decodes without error and has c.ParamsErr set (-32602).
func DecodeCall(frame []byte, c *Call) *Error {
	*c = Call{}
	cd := getDecoder(frame)
	defer putDecoder(cd)
	d := &cd.d

	switch d.PeekKind() {
	case '{':
	case '[':
		if d.SkipValue() != nil || !cd.atEnd() {
			return ErrParse("frame is not valid JSON")
		}
		return ErrInvalidRequest("batches are not supported")
	default:
		if d.SkipValue() != nil || !cd.atEnd() {
			return ErrParse("frame is not valid JSON")
		}
		return ErrInvalidRequest("frame is not a JSON object")
	}

	var (
		jsonrpc, method []byte // unquoted; nil when absent or null
		typeErr         string // set when "jsonrpc" or "method" is not a string
		id              jsontext.Value
		params          []byte // raw, of the last "params"
		paramsFor       string // the method the last params were decoded for, "" if none
		paramsErr       *Error
	)
	bad := func() *Error { return ErrParse("frame is not valid JSON") }
	if _, err := d.ReadToken(); err != nil {
		return bad()
	}
	for d.PeekKind() != '}' {
		name, err := d.ReadValue()
		if err != nil {
			return bad()
		}
		switch {
		case nameIs(name, nameJSONRPC):
			v, ok := cd.stringOrNull("jsonrpc", &typeErr)
			if !ok {
				return bad()
			}
			jsonrpc = v
		case nameIs(name, nameID):
			if id, err = d.ReadValue(); err != nil {
				return bad()
			}
		case nameIs(name, nameMethod):
			v, ok := cd.stringOrNull("method", &typeErr)
			if !ok {
				return bad()
			}
			method = v
		case nameIs(name, nameParams):
			// One pass when the method came first (as every client sends it); otherwise the
			// params' bytes are decoded once more below, when the method is known.
			start := cd.valueStart()
			paramsFor = methodName(method)
			if paramsFor != "" {
				c.Params = CallParams{}
				if paramsErr = cd.params(paramsFor, c); paramsErr == errSyntax {
					return bad()
				}
			} else if d.SkipValue() != nil {
				return bad()
			}
			params = frame[start:d.InputOffset()]
		default:
			if d.SkipValue() != nil {
				return bad()
			}
		}
	}
	if _, err := d.ReadToken(); err != nil || !cd.atEnd() {
		return bad()
	}

	// The envelope's rules, in DecodeRequest's order.
	if typeErr != "" {
		return ErrInvalidRequest(typeErr)
	}
	if id != nil && !validID(json.RawMessage(id)) {
		return ErrInvalidRequest("id must be a number, a string or null")
	}
	if id != nil {
		c.ID = json.RawMessage(id)
	}
	if jsonrpc == nil || string(jsonrpc) != Version {
		return ErrInvalidRequest(`"jsonrpc" must be "2.0"`)
	}
	if method == nil {
		return ErrInvalidRequest(`"method" must be a string`)
	}
	c.Method = methodName(method)
	if c.Method == "" {
		c.Method = string(method) // answered -32601
		return nil
	}
	switch {
	case params == nil:
		c.ParamsErr = ErrInvalidParams("missing params")
	case paramsFor != c.Method:
		c.Params = CallParams{}
		c.ParamsErr = decodeParamsAgain(params, c)
	default:
		c.ParamsErr = paramsErr
	}
	return nil
}

// decodeParamsAgain decodes params that came before their method (or before a later method).
func decodeParamsAgain(params []byte, c *Call) *Error {
	cd := getDecoder(params)
	defer putDecoder(cd)
	return cd.params(c.Method, c) // params were valid JSON: no syntax error here
}

func getDecoder(frame []byte) *callDecoder {
	cd := callDecoders.Get().(*callDecoder)
	cd.frame = frame
	cd.in = *bytes.NewBuffer(frame)
	cd.d.Reset(&cd.in, decodeOptions...)
	return cd
}

// putDecoder returns cd to the pool without a reference to the frame.
func putDecoder(cd *callDecoder) {
	cd.frame, cd.receiver = nil, nil
	cd.in = bytes.Buffer{}
	cd.d.Reset(&cd.in, decodeOptions...)
	callDecoders.Put(cd)
}

// atEnd reports whether only whitespace follows the value read last (json.Valid's rule).
func (cd *callDecoder) atEnd() bool {
	_, err := cd.d.ReadToken()
	return err == io.EOF
}

// valueStart is the offset of the value that follows the name just read: past blanks and ':'.
func (cd *callDecoder) valueStart() int {
	i := int(cd.d.InputOffset())
	for i < len(cd.frame) {
		switch cd.frame[i] {
		case ' ', '\t', '\r', '\n', ':':
			i++
			continue
		}
		break
	}
	return i
}

// stringOrNull reads a value that encoding/json would put in a *string: a string (unquoted),
// null (nil), or anything else, which sets typeErr once. ok is false on a syntax error.
func (cd *callDecoder) stringOrNull(field string, typeErr *string) ([]byte, bool) {
	switch cd.d.PeekKind() {
	case '"':
		v, err := cd.d.ReadValue()
		if err != nil {
			return nil, false
		}
		s := unquote(v)
		if s == nil {
			s = []byte{}
		}
		return s, true
	case 'n':
		_, err := cd.d.ReadValue()
		return nil, err == nil
	}
	if cd.d.SkipValue() != nil {
		return nil, false
	}
	if *typeErr == "" {
		*typeErr = `"` + field + `" must be a string`
	}
	return nil, true
}

// methodName returns the §4 name constant equal to m (no allocation), or "".
func methodName(m []byte) string {
	for _, name := range Methods {
		if string(m) == name {
			return name
		}
	}
	return ""
}
