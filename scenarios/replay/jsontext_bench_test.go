package replay

import (
	"bytes"
	"io"
	"strconv"

	"github.com/go-json-experiment/json/jsontext"
)

// jsonDelivery reads a sessionMessage event (§4.7) in one pass with the tokenizer relay/protocol
// decodes calls with (go-json-experiment/json/jsontext, reading the frame in place), and checks
// the body against the one sent: the candidate BenchmarkReadDelivery measures against the
// scanner. The tokenizer validates every value it passes, the 178 KB body too.
type jsonReader struct {
	d  jsontext.Decoder
	in bytes.Buffer
}

func (jr *jsonReader) delivery(frame []byte, expect func(k int) []byte) (wireMessage, bool) {
	m := wireMessage{receiver: -1}
	jr.in = *bytes.NewBuffer(frame)
	jr.d.Reset(&jr.in, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	d := &jr.d
	if tok, err := d.ReadToken(); err != nil || tok.Kind() != '{' {
		return m, false
	}
	event := false
	for d.PeekKind() != '}' {
		name, err := d.ReadValue()
		if err != nil {
			return m, false
		}
		switch string(name) {
		case `"result"`:
			if !jr.event(&m, expect) {
				return m, false
			}
			event = true
		default:
			if d.SkipValue() != nil {
				return m, false
			}
		}
	}
	if _, err := d.ReadToken(); err != nil {
		return m, false
	}
	if _, err := d.ReadToken(); err != io.EOF {
		return m, false
	}
	return m, event && m.have == 15
}

func (jr *jsonReader) event(m *wireMessage, expect func(k int) []byte) bool {
	d := &jr.d
	if tok, err := d.ReadToken(); err != nil || tok.Kind() != '[' {
		return false
	}
	if name, err := d.ReadValue(); err != nil || string(name) != `"sessionMessage"` {
		return false
	}
	if tok, err := d.ReadToken(); err != nil || tok.Kind() != '{' {
		return false
	}
	num := func() (uint16, bool) {
		v, err := d.ReadValue()
		if err != nil {
			return 0, false
		}
		n, err := strconv.ParseUint(string(v), 10, 16)
		return uint16(n), err == nil
	}
	for d.PeekKind() != '}' {
		name, err := d.ReadValue()
		if err != nil {
			return false
		}
		ok := true
		switch string(name) {
		case `"round"`:
			m.round, ok = num()
			m.have |= 1
		case `"sender"`:
			m.sender, ok = num()
			m.have |= 2
		case `"receiver"`:
			if d.PeekKind() == 'n' {
				ok = d.SkipValue() == nil
				break
			}
			var n uint16
			n, ok = num()
			m.receiver = int(n)
		case `"uuid"`:
			v, err := d.ReadValue()
			ok = err == nil && len(v) >= 2 && v[0] == '"'
			if ok {
				m.uuid = v[1 : len(v)-1]
			}
			m.have |= 4
		case `"body"`:
			v, err := d.ReadValue()
			ok = err == nil
			m.body = v
			m.have |= 8
			if k, found := bodyIndex(v); !found || expect == nil || !bytes.Equal(v, expect(k)) {
				m.slowBody = true
			}
		default:
			ok = d.SkipValue() == nil
		}
		if !ok {
			return false
		}
	}
	if _, err := d.ReadToken(); err != nil {
		return false
	}
	tok, err := d.ReadToken()
	return err == nil && tok.Kind() == ']'
}
