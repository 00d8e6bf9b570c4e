package model

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"

	"github.com/google/uuid"
)

// Decoding of method params, from §2.3 and §3: params that do not have the shape of §3 —
// missing, wrong type, wrong arity, a uuid that is not a UUID string, a number outside u16, an
// unknown kind — are -32602. Values come from jsonexact.Decode (numbers as literals).

type paramError struct{ msg string }

func (e *paramError) Error() string { return e.msg }

func bad(format string, args ...any) error { return &paramError{fmt.Sprintf(format, args...)} }

// positional returns the elements of a params array of between min and max elements.
func positional(p any, present bool, min, max int) ([]any, error) {
	if !present {
		return nil, bad("missing params")
	}
	arr, ok := p.([]any)
	if !ok {
		return nil, bad("params must be an array")
	}
	if len(arr) < min || len(arr) > max {
		return nil, bad("params: %d elements, want %d to %d", len(arr), min, max)
	}
	return arr, nil
}

func asString(v any, what string) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", bad("%s must be a string", what)
	}
	return s, nil
}

func asUUID(v any, what string) (uuid.UUID, error) {
	s, ok := v.(string)
	if !ok {
		return uuid.Nil, bad("%s must be a uuid string", what)
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, bad("%s: %v", what, err)
	}
	return u, nil
}

// groupAndSession reads the group and session uuids that begin the params of the session
// methods (§4.4–§4.10).
func groupAndSession(arr []any) (gu, su uuid.UUID, err error) {
	if gu, err = asUUID(arr[0], "group"); err == nil {
		su, err = asUUID(arr[1], "session")
	}
	return gu, su, err
}

// Kinds of sessions (§3.3).
const (
	kindKeygen = "keygen"
	kindSign   = "sign"
)

func asKind(v any) (string, error) {
	s, ok := v.(string)
	if !ok || (s != kindKeygen && s != kindSign) {
		return "", bad("kind must be \"keygen\" or \"sign\"")
	}
	return s, nil
}

var u16Literal = regexp.MustCompile(`^(0|[1-9][0-9]{0,4})$`)

// asU16 accepts an integer literal between 0 and 65535 (§3.1, §3.4, §3.5: u16).
func asU16(v any, what string) (uint16, error) {
	n, ok := v.(json.Number)
	if !ok || !u16Literal.MatchString(string(n)) {
		return 0, bad("%s must be an unsigned 16-bit integer", what)
	}
	var x int
	fmt.Sscan(string(n), &x)
	if x > 65535 {
		return 0, bad("%s must be an unsigned 16-bit integer", what)
	}
	return uint16(x), nil
}

// parameters is §3.1.
type parameters struct{ parties, threshold uint16 }

func asParameters(v any) (parameters, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return parameters{}, bad("parameters must be an object")
	}
	var p parameters
	var err error
	if p.parties, err = asU16(obj["parties"], "parties"); err != nil {
		return p, err
	}
	if p.threshold, err = asU16(obj["threshold"], "threshold"); err != nil {
		return p, err
	}
	return p, nil
}

// message is §3.5, with the members the relay must forward unchanged.
type message struct {
	raw      map[string]any
	receiver *uint16
}

func asMessage(v any) (message, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return message{}, bad("message must be an object")
	}
	for _, k := range []string{"round", "sender"} {
		if _, err := asU16(obj[k], k); err != nil {
			return message{}, err
		}
	}
	if _, err := asUUID(obj["uuid"], "uuid"); err != nil {
		return message{}, err
	}
	m := message{raw: obj}
	if r, present := obj["receiver"]; present && r != nil {
		n, err := asU16(r, "receiver")
		if err != nil {
			return message{}, err
		}
		m.receiver = &n
	}
	return m, nil
}

// payload is the sessionMessage payload the relay must write: round, sender, receiver, uuid and
// body unchanged (§4.7), an absent receiver or body as null (§3.5); members the protocol does
// not name may be forwarded or dropped.
func (m message) payload() *tmpl {
	u, _ := asUUID(m.raw["uuid"], "uuid")
	fs := []tfield{
		field("round", lit(m.raw["round"])),
		field("sender", lit(m.raw["sender"])),
		{key: "uuid", val: uuidT(u)},
	}
	if m.receiver != nil {
		fs = append(fs, field("receiver", lit(m.raw["receiver"])))
	} else {
		fs = append(fs, tfield{key: "receiver", val: lit(nil), pres: nullOrAbsent})
	}
	if b, ok := m.raw["body"]; ok && b != nil {
		fs = append(fs, field("body", lit(b)))
	} else {
		fs = append(fs, tfield{key: "body", val: lit(nil), pres: nullOrAbsent})
	}
	var extra []string
	for k := range m.raw {
		switch k {
		case "round", "sender", "receiver", "uuid", "body":
		default:
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	for _, k := range extra {
		fs = append(fs, tfield{key: k, val: lit(m.raw[k]), pres: optional})
	}
	return object(fs...)
}
