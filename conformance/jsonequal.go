package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// equalJSON reports whether a and b hold the same JSON value, as §4.7 means "equal JSON": the
// same types, strings equal code point for code point once unescaped, numbers equal as exact
// decimals (12345678901234567890 is not 12345678901234567000, though float64 — and so gomega's
// MatchJSON — makes them one), objects with the same members, arrays in the same order. When
// they differ, the second result says where.
func equalJSON(a, b []byte) (bool, string) {
	va, err := decodeExact(a)
	if err != nil {
		return false, fmt.Sprintf("expected value is not JSON: %v", err)
	}
	vb, err := decodeExact(b)
	if err != nil {
		return false, fmt.Sprintf("not JSON: %v", err)
	}
	return sameJSON(va, vb, "$")
}

func decodeExact(data []byte) (any, error) {
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

func sameJSON(a, b any, path string) (bool, string) {
	switch x := a.(type) {
	case nil:
		if b != nil {
			return false, fmt.Sprintf("%s: expected null, got %s", path, brief(b))
		}
	case bool:
		if y, ok := b.(bool); !ok || y != x {
			return false, fmt.Sprintf("%s: expected %t, got %s", path, x, brief(b))
		}
	case string:
		if y, ok := b.(string); !ok || y != x {
			return false, fmt.Sprintf("%s: expected the string %s, got %s", path, strconv.QuoteToASCII(x), brief(b))
		}
	case json.Number:
		y, ok := b.(json.Number)
		if !ok || !sameNumber(x, y) {
			return false, fmt.Sprintf("%s: expected the number %s, got %s", path, x, brief(b))
		}
	case []any:
		y, ok := b.([]any)
		if !ok || len(y) != len(x) {
			return false, fmt.Sprintf("%s: expected an array of %d, got %s", path, len(x), brief(b))
		}
		for i := range x {
			if ok, why := sameJSON(x[i], y[i], fmt.Sprintf("%s[%d]", path, i)); !ok {
				return false, why
			}
		}
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(y) != len(x) {
			return false, fmt.Sprintf("%s: expected an object of %d members, got %s", path, len(x), brief(b))
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok {
				return false, fmt.Sprintf("%s: member %q missing", path, k)
			}
			if ok, why := sameJSON(xv, yv, path+"."+k); !ok {
				return false, why
			}
		}
	}
	return true, ""
}

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

func brief(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	s := string(b)
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	if v == nil {
		return "null"
	}
	switch v.(type) {
	case string:
		return "the string " + strconv.QuoteToASCII(v.(string))
	case json.Number:
		return "the number " + s
	}
	return s
}

// expectJSON fails the case unless got is the same JSON value as want (equalJSON).
func expectJSON(t *T, what string, got, want []byte) {
	if ok, why := equalJSON(want, got); !ok {
		t.Failf(fmt.Sprintf("%s equal to %s", what, short(json.RawMessage(want))), "%s (%s)", short(json.RawMessage(got)), why)
	}
}

// jsonValues are values of every JSON type, each the whole body, value or payload in the
// round-trip cases: the falsy ones a JavaScript relay may drop (0, "", false), numbers beyond
// float64 and beyond JavaScript's safe integers, escapes, Unicode beyond the BMP, the line
// separators JavaScript once rejected, and nesting.
var jsonValues = []json.RawMessage{
	json.RawMessage(`0`),
	json.RawMessage(`""`),
	json.RawMessage(`false`),
	json.RawMessage(`null`),
	json.RawMessage(`true`),
	json.RawMessage(`[]`),
	json.RawMessage(`{}`),
	json.RawMessage(`-1`),
	json.RawMessage(`9007199254740993`),
	json.RawMessage(`12345678901234567890123`),
	json.RawMessage(`-0.000001234`),
	json.RawMessage(`3.14159265358979323846264338327950288`),
	json.RawMessage(`6.02214076e23`),
	json.RawMessage(`"ünïcødé, 中文, 🔑, e\u0301, \u2028\u2029"`),
	json.RawMessage(`"escapes: \" \\ \/ \b \f \n \r \t \u0000 \u001f"`),
	json.RawMessage(`{"a":[0,"",false,null,{"b":{"c":[[[]]]}}],"n":-9007199254740993,"s":"x\u00e9y"}`),
}

// unicodeStrings are the strings of the string round-trip cases (labels, proposals).
var unicodeStrings = []string{
	"",
	"ünïcødé",
	"中文标签",
	"🔑 wallet",
	"e\u0301 (decomposed, not normalised)",
	"quotes \" and \\ and\nnewlines\tand tabs",
	"\u2028\u2029 separators",
	"\u202e right-to-left override",
	"nul \u0000 byte",
}
