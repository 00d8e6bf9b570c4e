package model

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"mpcrelay/conformance/jsonexact"
)

// tkind is the kind of a template node.
type tkind int

const (
	tLit     tkind = iota // a JSON value, compared with jsonexact.Equal
	tHandle               // the uuid of a group or session (by handle); bound on first sight when new
	tUUIDLit              // a uuid given by a request, compared as a uuid (case and form free)
	tObject               // an object with exactly these members
	tArray                // an array of exactly these elements
)

// presence says whether an object member may be missing.
type presence int

const (
	mustHave     presence = iota
	optional              // absent, or present and matching
	nullOrAbsent          // absent or null (§3.5: an absent receiver is forwarded as null)
)

// tmpl is the shape a value the relay sends must have.
type tmpl struct {
	kind   tkind
	lit    any
	h      int
	uuid   uuid.UUID
	fields []tfield
	elems  []*tmpl
}

type tfield struct {
	key  string
	val  *tmpl
	pres presence
}

func lit(v any) *tmpl                { return &tmpl{kind: tLit, lit: v} }
func handleT(h int) *tmpl            { return &tmpl{kind: tHandle, h: h} }
func uuidT(u uuid.UUID) *tmpl        { return &tmpl{kind: tUUIDLit, uuid: u} }
func object(fs ...tfield) *tmpl      { return &tmpl{kind: tObject, fields: fs} }
func array(es ...*tmpl) *tmpl        { return &tmpl{kind: tArray, elems: es} }
func field(k string, v *tmpl) tfield { return tfield{key: k, val: v} }
func number(n int) *tmpl             { return lit(json.Number(fmt.Sprint(n))) }
func str(s string) *tmpl             { return lit(s) }

// binder resolves handles to the uuids the relay gave them, binding new ones on first sight.
type binder struct {
	m       *Model
	pending map[int]uuid.UUID // bound during this match, committed when the whole frame matches
}

func (b *binder) lookup(h int) (uuid.UUID, bool) {
	if u, ok := b.pending[h]; ok {
		return u, true
	}
	u, ok := b.m.uuidOf[h]
	return u, ok
}

// bind accepts u as the uuid of the new object h when it is a fresh version-4 uuid (§3.2, §3.3,
// §3.6: every group and session uuid is fresh).
func (b *binder) bind(h int, u uuid.UUID) bool {
	if u.Version() != 4 || u.Variant() != uuid.RFC4122 {
		return false
	}
	if _, used := b.m.handleOf[u]; used {
		return false
	}
	for _, other := range b.pending {
		if other == u {
			return false
		}
	}
	if b.pending == nil {
		b.pending = map[int]uuid.UUID{}
	}
	b.pending[h] = u
	return true
}

func (b *binder) commit() {
	for h, u := range b.pending {
		b.m.uuidOf[h] = u
		b.m.handleOf[u] = h
	}
	b.pending = nil
}

func (b *binder) match(t *tmpl, v any) bool {
	switch t.kind {
	case tLit:
		return jsonexact.Equal(t.lit, v)
	case tHandle:
		s, ok := v.(string)
		if !ok {
			return false
		}
		u, err := uuid.Parse(s)
		if err != nil || len(s) != 36 {
			return false // the relay writes uuids in the canonical 8-4-4-4-12 form
		}
		if have, ok := b.lookup(t.h); ok {
			return have == u
		}
		return b.bind(t.h, u)
	case tUUIDLit:
		s, ok := v.(string)
		if !ok {
			return false
		}
		u, err := uuid.Parse(s)
		return err == nil && u == t.uuid
	case tObject:
		obj, ok := v.(map[string]any)
		if !ok {
			return false
		}
		seen := 0
		for _, f := range t.fields {
			fv, present := obj[f.key]
			switch {
			case !present && f.pres == mustHave:
				return false
			case !present:
				continue
			}
			seen++
			if f.pres == nullOrAbsent && fv == nil {
				continue
			}
			if !b.match(f.val, fv) {
				return false
			}
		}
		return seen == len(obj) // no member the protocol does not name
	case tArray:
		arr, ok := v.([]any)
		if !ok || len(arr) != len(t.elems) {
			return false
		}
		for i, e := range t.elems {
			if !b.match(e, arr[i]) {
				return false
			}
		}
		return true
	}
	return false
}

// render writes a value matching t (the shadow relay's answer); fresh gives new handles a uuid.
func (t *tmpl) render(b *strings.Builder, uuidOf func(h int) uuid.UUID) {
	switch t.kind {
	case tLit:
		enc, _ := json.Marshal(t.lit)
		b.Write(enc)
	case tHandle:
		fmt.Fprintf(b, "%q", uuidOf(t.h).String())
	case tUUIDLit:
		fmt.Fprintf(b, "%q", t.uuid.String())
	case tObject:
		b.WriteByte('{')
		n := 0
		for _, f := range t.fields {
			if f.pres != mustHave && f.val == nil {
				continue
			}
			if n > 0 {
				b.WriteByte(',')
			}
			n++
			fmt.Fprintf(b, "%q:", f.key)
			f.val.render(b, uuidOf)
		}
		b.WriteByte('}')
	case tArray:
		b.WriteByte('[')
		for i, e := range t.elems {
			if i > 0 {
				b.WriteByte(',')
			}
			e.render(b, uuidOf)
		}
		b.WriteByte(']')
	}
}

// describe shows t for an Expected line: new uuids as <new uuid>, long values cut.
func (t *tmpl) describe(m *Model) string {
	var b strings.Builder
	t.describeTo(&b, m)
	return clip(b.String(), 300)
}

func (t *tmpl) describeTo(b *strings.Builder, m *Model) {
	switch t.kind {
	case tLit:
		enc, _ := json.Marshal(t.lit)
		b.WriteString(clip(string(enc), 120))
	case tHandle:
		if u, ok := m.uuidOf[t.h]; ok {
			fmt.Fprintf(b, "%q", u.String())
		} else {
			b.WriteString("<new uuid>")
		}
	case tUUIDLit:
		fmt.Fprintf(b, "%q", t.uuid.String())
	case tObject:
		b.WriteByte('{')
		for i, f := range t.fields {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(b, "%q", f.key)
			if f.pres != mustHave {
				b.WriteByte('?')
			}
			b.WriteByte(':')
			if f.val == nil {
				b.WriteString("null")
				continue
			}
			f.val.describeTo(b, m)
		}
		b.WriteByte('}')
	case tArray:
		b.WriteByte('[')
		for i, e := range t.elems {
			if i > 0 {
				b.WriteByte(',')
			}
			e.describeTo(b, m)
		}
		b.WriteByte(']')
	}
}

// clip shortens s to about n bytes for messages, on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("…(%d bytes)", len(s))
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

func (t *tmpl) equal(o *tmpl) bool {
	if t == o {
		return true
	}
	if t == nil || o == nil || t.kind != o.kind || t.h != o.h || t.uuid != o.uuid || len(t.fields) != len(o.fields) || len(t.elems) != len(o.elems) {
		return false
	}
	if t.kind == tLit && !jsonexact.Equal(t.lit, o.lit) {
		return false
	}
	for i, f := range t.fields {
		g := o.fields[i]
		if f.key != g.key || f.pres != g.pres || !f.val.equal(g.val) {
			return false
		}
	}
	for i, e := range t.elems {
		if !e.equal(o.elems[i]) {
			return false
		}
	}
	return true
}
