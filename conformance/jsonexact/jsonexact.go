// Package jsonexact compares JSON values the way PROTOCOL.md §4.7 means "equal JSON": the same
// types, strings equal code point for code point once unescaped (no Unicode normalisation),
// numbers equal as exact decimals (12345678901234567890 is not 12345678901234567000, though
// float64 — and so gomega's MatchJSON — makes them one; 1.0 is 1), objects with the same members
// in any order, arrays in the same order. The conformance cases and the protocol model
// (conformance/model) both judge bodies, values and ids with it.
package jsonexact

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// Decode reads one JSON value, keeping numbers as their literal text (json.Number) so that Equal
// can compare them exactly.
func Decode(data []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, fmt.Errorf("more than one JSON value")
	}
	return v, nil
}

// Equal reports whether a and b, values as Decode returns them, are the same JSON value.
func Equal(a, b any) bool { return diff(a, b) == nil }

// Difference says where b differs from the expected value a ("$.a[2]: expected the number 1,
// got the string \"1\""), or "" when they are equal.
func Difference(a, b any) string {
	d := diff(a, b)
	if d == nil {
		return ""
	}
	return d.String()
}

// difference is where two values differ; it is described only when asked (Equal runs in the
// model's inner loop).
type difference struct {
	path     []string // innermost first: "[2]", ".a"
	expected any      // the expected value there
	got      any      // the value found there
	missing  string   // or: the member of expected that got lacks
}

func (d *difference) String() string {
	var b strings.Builder
	b.WriteString("$")
	for i := len(d.path) - 1; i >= 0; i-- {
		b.WriteString(d.path[i])
	}
	if d.missing != "" {
		fmt.Fprintf(&b, ": member %q missing", d.missing)
		return b.String()
	}
	fmt.Fprintf(&b, ": expected %s, got %s", expectedText(d.expected), brief(d.got))
	return b.String()
}

func diff(a, b any) *difference {
	switch x := a.(type) {
	case nil:
		if b != nil {
			return unequal(a, b)
		}
	case bool:
		if y, ok := b.(bool); !ok || y != x {
			return unequal(a, b)
		}
	case string:
		if y, ok := b.(string); !ok || y != x {
			return unequal(a, b)
		}
	case json.Number:
		if y, ok := b.(json.Number); !ok || !sameNumber(x, y) {
			return unequal(a, b)
		}
	case []any:
		y, ok := b.([]any)
		if !ok || len(y) != len(x) {
			return unequal(a, b)
		}
		for i := range x {
			if d := diff(x[i], y[i]); d != nil {
				d.path = append(d.path, fmt.Sprintf("[%d]", i))
				return d
			}
		}
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(y) != len(x) {
			return unequal(a, b)
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok {
				return &difference{missing: k}
			}
			if d := diff(xv, yv); d != nil {
				d.path = append(d.path, "."+k)
				return d
			}
		}
	default:
		return unequal(a, b) // not a decoded JSON value
	}
	return nil
}

func unequal(a, b any) *difference { return &difference{expected: a, got: b} }

// sameNumber compares two JSON numbers as exact decimals; exponents too large to expand are
// compared as written.
func sameNumber(a, b json.Number) bool {
	if a == b {
		return true
	}
	if hugeExponent(string(a)) || hugeExponent(string(b)) {
		return false
	}
	x, okx := new(big.Rat).SetString(string(a))
	y, oky := new(big.Rat).SetString(string(b))
	return okx && oky && x.Cmp(y) == 0
}

func hugeExponent(s string) bool {
	i := strings.IndexAny(s, "eE")
	if i < 0 {
		return false
	}
	e, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
	return err != nil || e > 4096 || e < -4096
}

// expectedText describes the expected side of a difference.
func expectedText(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(x)
	case string:
		return "the string " + strconv.QuoteToASCII(x)
	case json.Number:
		return "the number " + string(x)
	case []any:
		return fmt.Sprintf("an array of %d", len(x))
	case map[string]any:
		return fmt.Sprintf("an object of %d members", len(x))
	}
	return fmt.Sprintf("%v", v)
}

// brief describes the value found, cut to about 80 bytes.
func brief(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return "the string " + strconv.QuoteToASCII(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	s := string(b)
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	if _, ok := v.(json.Number); ok {
		return "the number " + s
	}
	return s
}
