package protocol

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/google/uuid"
)

// The params decoders of DecodeCall (§4). Each consumes exactly one JSON value from the
// decoder, whatever its shape, so that the frame's scan goes on past a shape error; only a
// syntax error (errSyntax) stops it. Their rules are those of the params types' UnmarshalJSON
// (params.go, objects.go), which the differential fuzz target compares them with.

// errSyntax reports that the frame is not valid JSON (answered -32700, not -32602).
var errSyntax = &Error{Code: CodeParseError, Message: "Parse error", Data: "frame is not valid JSON"}

var errNotJSON = errors.New("not JSON")

// params decodes the value at the decoder's position as the params of method into c.Params.
func (cd *callDecoder) params(method string, c *Call) *Error {
	p := &c.Params
	var err error
	switch method {
	case MethodGroupCreate:
		err = cd.array(2, &p.GroupCreate.Label, &p.GroupCreate.Params)
	case MethodGroupJoin:
		// §4.2: a bare uuid string, not an array.
		if cd.d.PeekKind() == 'n' {
			if cd.d.SkipValue() != nil {
				return errSyntax
			}
			err = errors.New("invalid type: null, expected a group uuid string")
		} else {
			err = cd.uuid(&p.GroupJoin.GroupID)
		}
	case MethodSessionCreate:
		q := &p.SessionCreate
		err = cd.array(2, &q.GroupID, &q.Kind, &q.Value)
		if q.Value == nil {
			q.Value = nullJSON // §4.3: [group_id, kind] reads the value as null
		}
	case MethodSessionJoin, MethodSessionSignup:
		q := &p.Session
		err = cd.array(3, &q.GroupID, &q.SessionID, &q.Kind)
	case MethodSessionLoad:
		q := &p.SessionLoad
		err = cd.array(4, &q.GroupID, &q.SessionID, &q.Kind, &q.Number)
	case MethodSessionMessage:
		q := &p.SessionMessage
		cd.receiver = &c.receiver
		err = cd.array(4, &q.GroupID, &q.SessionID, &q.Kind, &q.Message)
	case MethodSessionFinish:
		q := &p.SessionFinish
		err = cd.array(3, &q.GroupID, &q.SessionID, &q.Number)
	case MethodNotifyProposal:
		q := &p.NotifyProposal
		err = cd.array(4, &q.GroupID, &q.SessionID, &q.ProposalID, &q.Message)
	case MethodNotifySigned:
		q := &p.NotifySigned
		err = cd.array(3, &q.GroupID, &q.SessionID, &q.Value)
	default:
		return nil
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errNotJSON):
		return errSyntax
	}
	return ErrInvalidParams(err.Error())
}

// array reads a positional params array of between min and len(fields) elements into fields
// (pointers: *uuid.UUID, *SessionKind, *string, *uint16, *Parameters, *Message,
// *json.RawMessage), as decodeArray does.
func (cd *callDecoder) array(min int, fields ...any) error {
	d := &cd.d
	switch d.PeekKind() {
	case '[':
	case 'n': // encoding/json reads null as an empty array
		if d.SkipValue() != nil {
			return errNotJSON
		}
		return lengthError(0, min, len(fields))
	default:
		if d.SkipValue() != nil {
			return errNotJSON
		}
		return errors.New("params must be an array")
	}
	if _, err := d.ReadToken(); err != nil {
		return errNotJSON
	}
	var first error
	n := 0
	for d.PeekKind() != ']' {
		if n >= len(fields) || first != nil {
			if d.SkipValue() != nil {
				return errNotJSON
			}
		} else if err := cd.field(fields[n]); err != nil {
			if errors.Is(err, errNotJSON) {
				return err
			}
			first = fmt.Errorf("element %d: %w", n, err)
		}
		n++
	}
	if _, err := d.ReadToken(); err != nil {
		return errNotJSON
	}
	if n < min || n > len(fields) {
		return lengthError(n, min, len(fields))
	}
	return first
}

func lengthError(n, min, max int) error {
	if min == max {
		return fmt.Errorf("invalid length %d, expected %d elements", n, max)
	}
	return fmt.Errorf("invalid length %d, expected %d to %d elements", n, min, max)
}

// field decodes one array element into f.
func (cd *callDecoder) field(f any) error {
	d := &cd.d
	if raw, ok := f.(*json.RawMessage); ok {
		v, err := d.ReadValue()
		if err != nil {
			return errNotJSON
		}
		*raw = json.RawMessage(v)
		return nil
	}
	if d.PeekKind() == 'n' { // decodeArray refuses null for every typed element
		if d.SkipValue() != nil {
			return errNotJSON
		}
		return errors.New("invalid type: null")
	}
	switch f := f.(type) {
	case *uuid.UUID:
		return cd.uuid(f)
	case *SessionKind:
		s, err := cd.str()
		if err != nil {
			return err
		}
		switch SessionKind(s) {
		case KindKeygen:
			*f = KindKeygen
		case KindSign:
			*f = KindSign
		default:
			return fmt.Errorf("unknown variant `%s`, expected `keygen` or `sign`", s)
		}
		return nil
	case *string:
		s, err := cd.str()
		if err != nil {
			return err
		}
		*f = string(s)
		return nil
	case *uint16:
		n, _, err := cd.u16()
		if err != nil {
			return err
		}
		*f = n
		return nil
	case *Parameters:
		return cd.parameters(f)
	case *Message:
		return cd.message(f)
	}
	panic(fmt.Sprintf("protocol: no decoder for %T", f))
}

// str reads a string value, unquoted as encoding/json does.
func (cd *callDecoder) str() ([]byte, error) {
	if cd.d.PeekKind() != '"' {
		if cd.d.SkipValue() != nil {
			return nil, errNotJSON
		}
		return nil, errors.New("invalid type, expected a string")
	}
	v, err := cd.d.ReadValue()
	if err != nil {
		return nil, errNotJSON
	}
	return unquote(v), nil
}

// uuid reads a uuid string (any form uuid.UUID.UnmarshalText accepts).
func (cd *callDecoder) uuid(f *uuid.UUID) error {
	s, err := cd.str()
	if err != nil {
		return err
	}
	id, err := uuid.ParseBytes(s)
	if err != nil {
		return err
	}
	*f = id
	return nil
}

// u16 reads a number into a u16 (§2.3: a number outside u16 is -32602); null reports ok=false
// and no error, as encoding/json leaves the target alone.
func (cd *callDecoder) u16() (n uint16, set bool, err error) {
	switch cd.d.PeekKind() {
	case '0':
		v, err := cd.d.ReadValue()
		if err != nil {
			return 0, false, errNotJSON
		}
		u, perr := strconv.ParseUint(string(v), 10, 16)
		if perr != nil {
			return 0, false, fmt.Errorf("invalid value: number %s, expected u16", v)
		}
		return uint16(u), true, nil
	case 'n':
		if cd.d.SkipValue() != nil {
			return 0, false, errNotJSON
		}
		return 0, false, nil
	}
	if cd.d.SkipValue() != nil {
		return 0, false, errNotJSON
	}
	return 0, false, errors.New("invalid type, expected a u16 number")
}

// openObject consumes the '{' of an object. Any other value is consumed too and is a shape
// error. Members are then read with nextName until it reports the end.
func (cd *callDecoder) openObject(what string) error {
	if cd.d.PeekKind() != '{' {
		if cd.d.SkipValue() != nil {
			return errNotJSON
		}
		return fmt.Errorf("invalid type, expected %s", what)
	}
	if _, err := cd.d.ReadToken(); err != nil {
		return errNotJSON
	}
	return nil
}

// nextName reads the next member's name (quoted, raw), or the closing '}' (nil name).
func (cd *callDecoder) nextName() ([]byte, error) {
	if cd.d.PeekKind() == '}' {
		if _, err := cd.d.ReadToken(); err != nil {
			return nil, errNotJSON
		}
		return nil, nil
	}
	name, err := cd.d.ReadValue()
	if err != nil {
		return nil, errNotJSON
	}
	return name, nil
}

// keep records the first shape error; a syntax error is returned at once (stop).
func keep(first *error, err error) (stop bool) {
	if err == nil {
		return false
	}
	if errors.Is(err, errNotJSON) {
		*first = err
		return true
	}
	if *first == nil {
		*first = err
	}
	return false
}

// parameters reads §3.1 {"parties": n, "threshold": t}; null leaves a field as it is, but both
// members are required: the last member naming each must be a number (§2.3: missing → -32602,
// not a rule's -32603 about a zero filled in).
func (cd *callDecoder) parameters(p *Parameters) error {
	if err := cd.openObject("struct Parameters"); err != nil {
		return err
	}
	var first error
	var has [2]bool
	for {
		name, err := cd.nextName()
		if err != nil || name == nil {
			return cmp.Or(err, first, missingParameter(has))
		}
		var target *uint16
		var i int
		switch {
		case nameIs(name, "parties"):
			target, i = &p.Parties, 0
		case nameIs(name, "threshold"):
			target, i = &p.Threshold, 1
		default:
			if cd.d.SkipValue() != nil {
				return errNotJSON
			}
			continue
		}
		n, set, err := cd.u16()
		if set {
			*target = n
		}
		has[i] = set
		if keep(&first, err) {
			return first
		}
	}
}

// missingParameter names the first member of §3.1 that is missing (or null), if any.
func missingParameter(has [2]bool) error {
	for i, name := range []string{"parties", "threshold"} {
		if !has[i] {
			return fmt.Errorf("missing field `%s`", name)
		}
	}
	return nil
}

// message reads a §3.5 message: round, sender and uuid required, receiver null or absent for
// a broadcast, body kept raw. Its fields behave as encoding/json's pointers (null unsets).
func (cd *callDecoder) message(m *Message) error {
	if err := cd.openObject("struct Message"); err != nil {
		return err
	}
	var (
		first                   error
		round, sender, receiver bool // present and not null
		id                      bool
	)
	*m = Message{}
	for {
		name, err := cd.nextName()
		if err != nil {
			return err
		}
		if name == nil {
			break
		}
		switch {
		case nameIs(name, "round"):
			err = cd.optU16(&round, &m.Round)
		case nameIs(name, "sender"):
			err = cd.optU16(&sender, &m.Sender)
		case nameIs(name, "receiver"):
			err = cd.optU16(&receiver, cd.receiver)
		case nameIs(name, "uuid"):
			if cd.d.PeekKind() == 'n' {
				id = false
				if cd.d.SkipValue() != nil {
					return errNotJSON
				}
			} else if err = cd.uuid(&m.UUID); err == nil {
				id = true
			}
		case nameIs(name, "body"):
			v, rerr := cd.d.ReadValue()
			if rerr != nil {
				return errNotJSON
			}
			m.Body = json.RawMessage(v)
		default:
			if cd.d.SkipValue() != nil {
				return errNotJSON
			}
		}
		if keep(&first, err) {
			return first
		}
	}
	switch {
	case first != nil:
		return first
	case !round:
		return errors.New("missing field `round`")
	case !sender:
		return errors.New("missing field `sender`")
	case !id:
		return errors.New("missing field `uuid`")
	}
	if receiver {
		m.Receiver = cd.receiver
	}
	if m.Body == nil {
		m.Body = nullJSON
	}
	return nil
}

// optU16 reads a number or null into a field that encoding/json would decode as *uint16:
// set tells whether it holds a number (null unsets it), at is its storage.
func (cd *callDecoder) optU16(set *bool, at *uint16) error {
	n, ok, err := cd.u16()
	if err != nil {
		return err
	}
	*set = ok
	if ok {
		*at = n
	}
	return nil
}

// unquote returns the contents of a JSON string as encoding/json decodes them. Strings
// without escapes or non-ASCII bytes are returned in place.
func unquote(v []byte) []byte {
	inner := v[1 : len(v)-1]
	for _, b := range inner {
		if b == '\\' || b >= utf8.RuneSelf {
			var s string
			_ = json.Unmarshal(v, &s) // v is a valid JSON string
			return []byte(s)
		}
	}
	return inner
}

// nameIs reports whether the object member name (quoted, raw) is the field name: exactly, case
// included, after unescaping ("m\u0065thod" is method; "Method" is an unknown member), as serde
// matches the names of the original's structs.
func nameIs(name []byte, field string) bool {
	return string(unquote(name)) == field
}
