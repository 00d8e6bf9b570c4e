package model

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"mpcrelay/conformance/jsonexact"
)

// An expect is one frame a connection must receive next (in its world).
type expect struct {
	kind   expectKind
	what   string // what it answers, for messages: "response to Session.signup (id 7)"
	idMode idMode
	id     any // the request id (decoded); nil = null

	code      int  // error code; 0 = success
	anyCode   bool // any error code (a rejected batch, §1.2 INFO)
	closeConn bool // error data "close-connection" (§2.5)
	result    *tmpl
	omitted   bool // void result written without "result" (§2.2 COMPAT)

	event   string
	payload *tmpl
}

type expectKind int

const (
	eResponse expectKind = iota // a response to a request (success or error)
	eEvent                      // an event (§2.4)
	eClosed                     // the relay closes the connection (§2.5)
)

type idMode int

const (
	idExact        idMode = iota // the request's id
	idAbsentOrNull               // an error to a notification (§2.1 COMPAT: without id)
	idNullOrFrame                // an invalid frame's answer: null, or the frame's id when it had one (§1.4)
)

// Frame is what a client received on one connection: a data frame, or the end of the connection.
type Frame struct {
	Data   []byte
	Binary bool
	Closed bool // the relay closed the connection (or it failed); Data is empty
}

// received is a decoded relay frame.
type received struct {
	frame Frame
	obj   map[string]any // nil when the frame is not a JSON object
	err   string         // why obj is nil
}

func decodeReceived(f Frame) *received {
	r := &received{frame: f}
	if f.Closed {
		return r
	}
	if f.Binary {
		r.err = "a binary frame (§1.2: every frame is a text frame)"
		return r
	}
	v, err := jsonexact.Decode(f.Data)
	if err != nil {
		r.err = "not JSON: " + err.Error()
		return r
	}
	obj, ok := v.(map[string]any)
	if !ok {
		r.err = "not a JSON object"
		return r
	}
	r.obj = obj
	return r
}

// matches checks r against e; new uuids are bound through b.
func (e *expect) matches(r *received, b *binder) bool {
	if e.kind == eClosed {
		return r.frame.Closed
	}
	if r.obj == nil {
		return false
	}
	obj := r.obj
	if obj["jsonrpc"] != "2.0" {
		return false
	}
	id, hasID := obj["id"]
	result, hasResult := obj["result"]
	errObj, hasError := obj["error"]
	allowed := map[string]bool{"jsonrpc": true, "id": true, "result": true, "error": true}
	for k := range obj {
		if !allowed[k] {
			return false
		}
	}
	if e.kind == eEvent {
		if !hasID || !jsonexact.Equal(id, json.Number("0")) || hasError || !hasResult {
			return false
		}
		pair, ok := result.([]any)
		if !ok || len(pair) != 2 || pair[0] != e.event {
			return false
		}
		return b.match(e.payload, pair[1])
	}
	switch e.idMode {
	case idExact:
		if !hasID || !jsonexact.Equal(id, e.id) {
			return false
		}
	case idAbsentOrNull:
		if hasID && id != nil {
			return false
		}
	case idNullOrFrame:
		if !hasID || (id != nil && (e.id == nil || !jsonexact.Equal(id, e.id))) {
			return false
		}
	}
	if e.code != 0 || e.anyCode {
		if !hasError || hasResult {
			return false
		}
		eo, ok := errObj.(map[string]any)
		if !ok {
			return false
		}
		code, ok := eo["code"].(json.Number)
		if !ok {
			return false
		}
		if !e.anyCode && !jsonexact.Equal(code, json.Number(fmt.Sprint(e.code))) {
			return false
		}
		if _, ok := eo["message"].(string); !ok {
			return false
		}
		data, hasData := eo["data"]
		if hasData && data != nil {
			if _, ok := data.(string); !ok {
				return false
			}
		}
		if e.closeConn != (data == "close-connection") {
			return false
		}
		return true
	}
	if hasError {
		return false
	}
	if e.omitted {
		return !hasResult
	}
	if !hasResult {
		return false
	}
	return b.match(e.result, result)
}

// describe says what e wants, for an Expected line.
func (e *expect) describe(m *Model) string {
	switch e.kind {
	case eClosed:
		return "the relay closes the connection (§2.5)"
	case eEvent:
		return fmt.Sprintf(`event %s %s`, e.event, e.payload.describe(m))
	}
	var id string
	switch e.idMode {
	case idExact:
		enc, _ := json.Marshal(e.id)
		id = `"id":` + string(enc)
	case idAbsentOrNull:
		id = "no id"
	case idNullOrFrame:
		id = `"id":null`
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: ", e.what)
	switch {
	case e.anyCode:
		fmt.Fprintf(&b, "an error (%s)", id)
	case e.code != 0:
		fmt.Fprintf(&b, "error %d (%s", e.code, id)
		if e.closeConn {
			b.WriteString(`, data "close-connection"`)
		}
		b.WriteString(")")
	case e.omitted:
		fmt.Fprintf(&b, `success without "result" (%s)`, id)
	default:
		fmt.Fprintf(&b, "success (%s) result %s", id, e.result.describe(m))
	}
	return b.String()
}

// render writes a frame matching e (the simulated relay's frame).
func (e *expect) render(m *Model, uuidOf func(h int) uuid.UUID) Frame {
	if e.kind == eClosed {
		return Frame{Closed: true}
	}
	var b strings.Builder
	if e.kind == eEvent {
		b.WriteString(`{"jsonrpc":"2.0","id":0,"result":[`)
		fmt.Fprintf(&b, "%q,", e.event)
		e.payload.render(&b, uuidOf)
		b.WriteString("]}")
		return Frame{Data: []byte(b.String())}
	}
	b.WriteString(`{"jsonrpc":"2.0"`)
	switch e.idMode {
	case idExact:
		enc, _ := json.Marshal(e.id)
		b.WriteString(`,"id":` + string(enc))
	case idNullOrFrame:
		b.WriteString(`,"id":null`)
	}
	switch {
	case e.code != 0 || e.anyCode:
		code := e.code
		if code == 0 {
			code = -32600
		}
		fmt.Fprintf(&b, `,"error":{"code":%d,"message":"simulated"`, code)
		if e.closeConn {
			b.WriteString(`,"data":"close-connection"`)
		}
		b.WriteString("}")
	case e.omitted:
	default:
		b.WriteString(`,"result":`)
		e.result.render(&b, uuidOf)
	}
	b.WriteString("}")
	return Frame{Data: []byte(b.String())}
}

func (e *expect) equal(o *expect) bool {
	if e == o {
		return true
	}
	return e.kind == o.kind && e.idMode == o.idMode && jsonexact.Equal(e.id, o.id) && e.code == o.code && e.anyCode == o.anyCode &&
		e.closeConn == o.closeConn && e.omitted == o.omitted && e.event == o.event && e.result.equal(o.result) && e.payload.equal(o.payload)
}

func (e *expect) kindName() string {
	switch {
	case e.kind == eClosed:
		return "close"
	case e.kind == eEvent:
		return "event " + e.event
	case e.code != 0:
		return fmt.Sprintf("error %d", e.code)
	case e.anyCode:
		return "error"
	}
	return "response"
}
