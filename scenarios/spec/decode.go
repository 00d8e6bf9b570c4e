package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// FieldError is a mistake in a scenario file: the field's path (e.g. "faults[1].round"), the
// line it sits on (0 when the file has none to point at) and what is wrong.
type FieldError struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Line > 0 {
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteByte(':')
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Load reads and validates a scenario file (YAML or JSON).
func Load(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read scenario: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes a scenario strictly (unknown fields, wrong types and duplicate keys are errors),
// applies defaults and validates it. Every error is a *FieldError (joined with errors.Join when
// there are several), naming the field and its line.
func Parse(name string, data []byte) (*Scenario, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, &FieldError{File: name, Line: 1, Msg: "empty scenario file"}
	} else if err != nil {
		return nil, &FieldError{File: name, Line: syntaxLine(err), Msg: "not valid YAML or JSON: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &FieldError{File: name, Line: extra.Line, Msg: "a scenario file holds one document"}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, &FieldError{File: name, Line: 1, Msg: "empty scenario file"}
	}
	d := decoder{file: name, lines: map[string]int{}}
	var s Scenario
	d.value("", doc.Content[0], reflect.ValueOf(&s).Elem())
	if len(d.errs) > 0 {
		return nil, errors.Join(d.errs...)
	}
	s.applyDefaults()
	if errs := s.validate(); len(errs) > 0 {
		out := make([]error, len(errs))
		for i, e := range errs {
			e.File = name
			e.Line = d.lineOf(e.Field)
			out[i] = e
		}
		return nil, errors.Join(out...)
	}
	return &s, nil
}

// syntaxLine pulls the line out of a yaml syntax error ("yaml: line 3: ...").
func syntaxLine(err error) int {
	msg := err.Error()
	if i := strings.Index(msg, "line "); i >= 0 {
		rest := msg[i+len("line "):]
		j := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
		if j > 0 {
			n, _ := strconv.Atoi(rest[:j])
			return n
		}
	}
	return 0
}

// decoder walks the YAML node tree into Go values field by field, so that every error carries
// the field's path and line (yaml.v3's own errors give the line but not the field), and records
// the line of every field for the validation errors that come later.
type decoder struct {
	file  string
	lines map[string]int // field path → line of its key
	errs  []error
}

const maxErrors = 20

func (d *decoder) fail(path string, line int, format string, args ...any) {
	if len(d.errs) < maxErrors {
		d.errs = append(d.errs, &FieldError{File: d.file, Line: line, Field: path, Msg: fmt.Sprintf(format, args...)})
	}
}

// lineOf finds the line of a path, or of its nearest parent that is in the file.
func (d *decoder) lineOf(path string) int {
	for path != "" {
		if l, ok := d.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return d.lines[""]
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

func (d *decoder) value(path string, n *yaml.Node, v reflect.Value) {
	if _, seen := d.lines[path]; !seen {
		d.lines[path] = n.Line
	}
	if n.Kind == yaml.AliasNode {
		d.fail(path, n.Line, "aliases are not supported in scenario files")
		return
	}
	if reflect.PointerTo(v.Type()).Implements(unmarshalerType) {
		if err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
			d.fail(path, n.Line, "%v", err)
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.mapping(path, n, v)
	case reflect.Slice:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.fail(path, n.Line, "want a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.value(fmt.Sprintf("%s[%d]", path, i), item, s.Index(i))
		}
		v.Set(s)
	default:
		if n.Kind != yaml.ScalarNode {
			d.fail(path, n.Line, "want %s, got %s", kindName(v.Kind()), describe(n))
			return
		}
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.fail(path, n.Line, "want %s, got %s", kindName(v.Kind()), describe(n))
		}
	}
}

func (d *decoder) mapping(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, n.Line, "want a mapping of fields, got %s", describe(n))
		return
	}
	fields := map[string]int{}
	t := v.Type()
	for i := range t.NumField() {
		if tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]; tag != "" && tag != "-" {
			fields[tag] = i
		}
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		fp := key.Value
		if path != "" {
			fp = path + "." + key.Value
		}
		idx, ok := fields[key.Value]
		switch {
		case !ok:
			d.fail(fp, key.Line, "unknown field (known: %s)", strings.Join(sortedKeys(fields), ", "))
			continue
		case seen[key.Value]:
			d.fail(fp, key.Line, "field given twice")
			continue
		}
		seen[key.Value] = true
		d.lines[fp] = key.Line
		d.value(fp, val, v.Field(idx))
	}
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func kindName(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "an integer"
	case reflect.Float64, reflect.Float32:
		return "a number"
	case reflect.Bool:
		return "true or false"
	}
	return k.String()
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "an unsupported node"
}
