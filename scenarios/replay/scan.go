package replay

import (
	"bytes"
	"mpcrelay/relay/protocol"
	"strconv"
	"strings"
)

// The generator reads thousands of frames a second, some of them 178 KB, so it does not decode
// them with encoding/json (reflection, a validity pass and a copy of every raw value each time).
// scanner walks only the envelope (§2) and the message object (§3.5) and hands back byte spans
// of the values it does not need to look into; bodies are then compared byte for byte with the
// frame that was sent (see (*run).deliver). The walk checks structure — balanced brackets,
// terminated strings, commas and colons — so a frame it accepts has a well-formed envelope.
type scanner struct {
	b     []byte
	i     int
	depth int // arrays and objects open around the value being walked
}

// maxDepth bounds nesting, as encoding/json does: value recurses per level, and a frame of
// 64 MiB of brackets would otherwise grow the reading goroutine's stack past its limit.
const maxDepth = 10000

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek is the next non-space byte, 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) eat(c byte) bool {
	if s.peek() == c {
		s.i++
		return true
	}
	return false
}

// str reads a string and returns its contents, escapes left as they are.
func (s *scanner) str() ([]byte, bool) {
	if !s.eat('"') {
		return nil, false
	}
	start := s.i
	for {
		j := bytes.IndexByte(s.b[s.i:], '"')
		if j < 0 {
			return nil, false
		}
		end := s.i + j
		// The quote ends the string unless an odd number of backslashes precede it.
		n := 0
		for k := end - 1; k >= start && s.b[k] == '\\'; k-- {
			n++
		}
		s.i = end + 1
		if n%2 == 0 {
			return s.b[start:end], true
		}
	}
}

// value skips one value of any kind and returns its span.
func (s *scanner) value() ([]byte, bool) {
	c := s.peek()
	start := s.i
	switch {
	case c == '"':
		if _, ok := s.str(); !ok {
			return nil, false
		}
	case c == '{':
		if s.depth++; s.depth > maxDepth {
			return nil, false
		}
		s.i++
		if !s.eat('}') {
			for {
				if _, ok := s.str(); !ok || !s.eat(':') {
					return nil, false
				}
				if _, ok := s.value(); !ok {
					return nil, false
				}
				if s.eat('}') {
					break
				}
				if !s.eat(',') {
					return nil, false
				}
			}
		}
		s.depth--
	case c == '[':
		if s.depth++; s.depth > maxDepth {
			return nil, false
		}
		s.i++
		if !s.eat(']') {
			for {
				if _, ok := s.value(); !ok {
					return nil, false
				}
				if s.eat(']') {
					break
				}
				if !s.eat(',') {
					return nil, false
				}
			}
		}
		s.depth--
	case c == '-' || (c >= '0' && c <= '9'):
		s.i++
		for s.i < len(s.b) && strings.IndexByte("0123456789+-.eE", s.b[s.i]) >= 0 {
			s.i++
		}
	case c == 't' || c == 'f' || c == 'n':
		for _, lit := range []string{"true", "false", "null"} {
			if bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
				s.i += len(lit)
				return s.b[start:s.i], true
			}
		}
		return nil, false
	default:
		return nil, false
	}
	return s.b[start:s.i], true
}

// object walks the members of an object; field reads (or skips) the value of each key and
// reports whether it was well formed.
func (s *scanner) object(field func(key []byte) bool) bool {
	if !s.eat('{') {
		return false
	}
	if s.eat('}') {
		return true
	}
	for {
		key, ok := s.str()
		if !ok || !s.eat(':') || !field(key) {
			return false
		}
		if s.eat('}') {
			return true
		}
		if !s.eat(',') {
			return false
		}
	}
}

// end reports whether only white space is left.
func (s *scanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// envelope is what the generator needs of a frame (§2): a request (the forwarder copies what
// parties send), a response or an event. Spans point into the frame.
type envelope struct {
	id     []byte // raw id token; nil when absent
	method []byte
	params []byte
	result []byte // nil when absent (the original omits it for void methods, §2.2)
	errObj []byte
	// cut: a sessionMessage event taken apart by cutMessageEvent, its envelope not scanned;
	// payload is the message object.
	cut     bool
	payload []byte
}

var sessionMessageName = []byte(protocol.EventSessionMessage)

// messageEventHead starts a sessionMessage event (§2.4, §4.7) as the reference relay and the
// original write it.
const messageEventHead = `{"jsonrpc":"2.0","id":0,"result":["sessionMessage",`

// cutMessageEvent takes apart a frame laid out exactly as the reference relay writes a
// sessionMessage event — the head, the message object, "]}" — without scanning the envelope:
// these are most of the frames a run receives, and the envelope scan walked every body once
// more. The message object is not checked here: a frame whose middle does not read as one
// message must be scanned whole (see peer.onFrame), as any other layout is.
func cutMessageEvent(frame []byte) (envelope, bool) {
	const head = messageEventHead
	if len(frame) < len(head)+2 || string(frame[:len(head)]) != head || string(frame[len(frame)-2:]) != "]}" {
		return envelope{}, false
	}
	return envelope{
		id:      frame[len(`{"jsonrpc":"2.0","id":`):len(`{"jsonrpc":"2.0","id":0`)],
		result:  frame[len(`{"jsonrpc":"2.0","id":0,"result":`) : len(frame)-1],
		cut:     true,
		payload: frame[len(head) : len(frame)-2],
	}, true
}

func scanEnvelope(frame []byte) (envelope, bool) {
	var e envelope
	s := scanner{b: frame}
	ok := s.object(func(key []byte) bool {
		var v []byte
		var ok bool
		if string(key) == "method" {
			v, ok = s.str()
		} else {
			v, ok = s.value()
		}
		switch string(key) {
		case "id":
			e.id = v
		case "method":
			e.method = v
		case "params":
			e.params = v
		case "result":
			e.result = v
		case "error":
			e.errObj = v
		}
		return ok
	})
	return e, ok && s.end()
}

// isEvent: events carry id 0 and a result (§2.4).
func (e *envelope) isEvent() bool { return string(e.id) == "0" && e.result != nil }

// event splits an event's result ["name", payload].
func (e *envelope) event() (name, payload []byte, ok bool) {
	if e.cut {
		return sessionMessageName, e.payload, true
	}
	s := scanner{b: e.result}
	if !s.eat('[') {
		return nil, nil, false
	}
	if name, ok = s.str(); !ok || !s.eat(',') {
		return nil, nil, false
	}
	if payload, ok = s.value(); !ok || !s.eat(']') {
		return nil, nil, false
	}
	return name, payload, s.end()
}

// idNumber is the response id as a number; ok is false for null, absent or anything else.
func (e *envelope) idNumber() (uint64, bool) {
	n, err := strconv.ParseUint(string(e.id), 10, 64)
	return n, err == nil
}

// messageParams returns the message object of Session.message params
// [group, session, kind, message] (§4.7).
func messageParams(params []byte) ([]byte, bool) {
	s := scanner{b: params}
	if !s.eat('[') {
		return nil, false
	}
	for range 3 {
		if _, ok := s.value(); !ok || !s.eat(',') {
			return nil, false
		}
	}
	m, ok := s.value()
	if !ok || !s.eat(']') || !s.end() {
		return nil, false
	}
	return m, true
}

// wireMessage is a received message (§3.5) as spans and numbers.
type wireMessage struct {
	round, sender uint16
	receiver      int // -1: null or absent (broadcast)
	uuid          []byte
	body          []byte
	// slowBody: the body was not the bytes expected, so it must be compared as JSON.
	slowBody bool
	have     uint8 // bit per required field: round, sender, uuid, body
}

// scanMessage reads a message object. expect(k) gives the body that message k of the plan
// was sent with: when the received body starts with exactly those bytes it is taken without
// walking it (a memcmp instead of a parse of up to 178 KB).
func scanMessage(obj []byte, expect func(k int) []byte) (wireMessage, bool) {
	m := wireMessage{receiver: -1}
	s := scanner{b: obj}
	num := func() (uint16, bool) {
		v, ok := s.value()
		if !ok {
			return 0, false
		}
		n, err := strconv.ParseUint(string(v), 10, 16)
		return uint16(n), err == nil
	}
	ok := s.object(func(key []byte) bool {
		var ok bool
		switch string(key) {
		case "round":
			m.round, ok = num()
			m.have |= 1
		case "sender":
			m.sender, ok = num()
			m.have |= 2
		case "receiver":
			if s.peek() == 'n' {
				_, ok = s.value() // null: a broadcast
				return ok
			}
			var n uint16
			n, ok = num()
			m.receiver = int(n)
		case "uuid":
			m.uuid, ok = s.str()
			m.have |= 4
		case "body":
			m.have |= 8
			s.ws()
			if k, found := bodyIndex(s.b[s.i:]); found && expect != nil {
				if want := expect(k); want != nil && bytes.HasPrefix(s.b[s.i:], want) {
					m.body = s.b[s.i : s.i+len(want)]
					s.i += len(want)
					return true
				}
			}
			m.body, ok = s.value()
			m.slowBody = true
		default:
			_, ok = s.value()
		}
		return ok
	})
	return m, ok && s.end() && m.have == 15
}

// numbers reads an array of party numbers (the sessionClosed payload, §4.8).
func numbers(b []byte) ([]uint16, bool) {
	s := scanner{b: b}
	if !s.eat('[') {
		return nil, false
	}
	var out []uint16
	if s.eat(']') {
		return out, s.end()
	}
	for {
		v, ok := s.value()
		if !ok {
			return nil, false
		}
		n, err := strconv.ParseUint(string(v), 10, 16)
		if err != nil {
			return nil, false
		}
		out = append(out, uint16(n))
		if s.eat(']') {
			return out, s.end()
		}
		if !s.eat(',') {
			return nil, false
		}
	}
}
