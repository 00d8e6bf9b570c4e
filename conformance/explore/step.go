package explore

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// Step is one action of a run on one connection slot.
type Step struct {
	Slot   int       // the connection slot (A, B, ...); a closed slot is dialled again when used
	Close  CloseKind // a closing step when not 0
	Frames []*Frame  // frames written back to back (a burst when several)
	// frameIDs are the frames' positions in the generated step, when this is a shrunk part of it
	// (references name objects by the generated step and frame that created them).
	frameIDs []int
}

// frameID is the position frame j had in the generated step.
func (s *Step) frameID(j int) int {
	if s.frameIDs != nil {
		return s.frameIDs[j]
	}
	return j
}

// Unit is one frame of a generated run (Frame -1: a closing step), the grain of shrinking and
// of --keep ("12" = every frame of step 12, "12.1" = its second frame).
type Unit struct{ Step, Frame int }

// units lists the units of steps idx of all.
func units(all []*Step, idx []int) []Unit {
	var out []Unit
	for _, i := range idx {
		if all[i].Close != 0 {
			out = append(out, Unit{i, -1})
			continue
		}
		for j := range all[i].Frames {
			out = append(out, Unit{i, j})
		}
	}
	return out
}

// assemble builds the steps that run the given units: consecutive units of one generated step
// stay one step (one burst), keeping their frames' generated positions.
func assemble(all []*Step, us []Unit) (steps []*Step, idx []int, firstUnit []int) {
	for k, u := range us {
		st := all[u.Step]
		if u.Frame < 0 {
			steps, idx, firstUnit = append(steps, st), append(idx, u.Step), append(firstUnit, k)
			continue
		}
		if n := len(steps); n > 0 && idx[n-1] == u.Step && steps[n-1].Close == 0 {
			last := steps[n-1]
			last.Frames = append(last.Frames, st.Frames[u.Frame])
			last.frameIDs = append(last.frameIDs, u.Frame)
			continue
		}
		part := &Step{Slot: st.Slot, Frames: []*Frame{st.Frames[u.Frame]}, frameIDs: []int{u.Frame}}
		steps, idx, firstUnit = append(steps, part), append(idx, u.Step), append(firstUnit, k)
	}
	return steps, idx, firstUnit
}

// FormatKeep writes units the way --keep reads them: whole steps as "i", parts as "i.j".
func FormatKeep(all []*Step, us []Unit) string {
	var parts []string
	for k := 0; k < len(us); {
		u := us[k]
		n := 1
		for k+n < len(us) && us[k+n].Step == u.Step {
			n++
		}
		whole := u.Frame < 0 || n == len(all[u.Step].Frames)
		if whole {
			parts = append(parts, strconv.Itoa(u.Step))
		} else {
			for _, v := range us[k : k+n] {
				parts = append(parts, fmt.Sprintf("%d.%d", v.Step, v.Frame))
			}
		}
		k += n
	}
	return strings.Join(parts, ",")
}

// ParseKeep reads --keep tokens ("12", "12.1") into units of the steps of all.
func ParseKeep(all []*Step, tokens []string) ([]Unit, error) {
	var out []Unit
	for _, tok := range tokens {
		step, frame, part := strings.Cut(strings.TrimSpace(tok), ".")
		i, err := strconv.Atoi(step)
		if err != nil || i < 0 || i >= len(all) {
			return nil, fmt.Errorf("--keep %q: not a step of a %d-step run", tok, len(all))
		}
		if !part {
			out = append(out, units(all, []int{i})...)
			continue
		}
		j, err := strconv.Atoi(frame)
		if err != nil || j < 0 || j >= len(all[i].Frames) {
			return nil, fmt.Errorf("--keep %q: step %d has no frame %s", tok, i, frame)
		}
		out = append(out, Unit{i, j})
	}
	slices.SortStableFunc(out, func(a, b Unit) int {
		if a.Step != b.Step {
			return a.Step - b.Step
		}
		return a.Frame - b.Frame
	})
	return slices.Compact(out), nil
}

// CloseKind is how a client leaves.
type CloseKind int

const (
	CloseFrame  CloseKind = iota + 1 // a close frame (RFC 6455 closing handshake)
	CloseAbrupt                      // the TCP connection just ends
)

// Frame is one frame a step writes.
type Frame struct {
	Binary bool
	Raw    string // a verbatim frame (malformed input, binary data)
	Req    *Req   // a JSON-RPC request, rendered when the step runs
}

// Req is a request whose ids and references are filled in when it runs.
type Req struct {
	Method   string
	ID       string // "" = the run's next id; "-" = no id (a notification); else literal JSON
	Params   *Val   // nil = no "params" member
	Envelope string // "" = a proper envelope; else a literal prefix replacing {"jsonrpc":"2.0"
}

// Val is a JSON value with references to the run's groups and sessions.
type Val struct {
	Lit string // literal JSON text
	Ref *Ref
	Arr []*Val
	Obj []Member
	Big *Big
	arr bool
	obj bool
}

// Member is one member of an object value.
type Member struct {
	Key string
	Val *Val
}

// Ref names the group or session created by frame Frame of step Step, written in Form.
type Ref struct {
	Step, Frame int
	Form        UUIDForm
}

// UUIDForm is how a uuid is written; every form is a UUID string (§2.3).
type UUIDForm int

const (
	Canonical UUIDForm = iota
	Upper
)

// Big is a generated string of N bytes (big bodies are not kept in memory).
type Big struct {
	Seed uint64
	N    int
}

func lit(s string) *Val              { return &Val{Lit: s} }
func litJSON(v any) *Val             { b, _ := json.Marshal(v); return &Val{Lit: string(b)} }
func arr(vs ...*Val) *Val            { return &Val{Arr: vs, arr: true} }
func obj(ms ...Member) *Val          { return &Val{Obj: ms, obj: true} }
func ref(r Ref) *Val                 { return &Val{Ref: &r} }
func member(k string, v *Val) Member { return Member{k, v} }
func litUUID(u uuid.UUID) *Val       { return litJSON(u.String()) }
func num(n int64) *Val               { return lit(strconv.FormatInt(n, 10)) }

// missing is the uuid a reference renders to when its object was never created in this run (a
// shrunk run without the creating step): a version-5 uuid, which a relay never issues.
func missing(r Ref) uuid.UUID {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte(fmt.Sprintf("mpcrelay explore %d/%d", r.Step, r.Frame)))
}

// resolver gives references their uuids in one run.
type resolver func(Ref) (uuid.UUID, bool)

func (v *Val) render(b *strings.Builder, res resolver, short bool) {
	switch {
	case v.Ref != nil:
		u, ok := res(*v.Ref)
		if !ok {
			u = missing(*v.Ref)
		}
		s := u.String()
		if v.Ref.Form == Upper {
			s = strings.ToUpper(s)
		}
		b.WriteString(`"` + s + `"`)
	case v.Big != nil && short:
		b.WriteString(`"big"`) // the shadow relay: a big string changes nothing but time
	case v.Big != nil:
		writeBig(b, *v.Big)
	case v.arr:
		b.WriteByte('[')
		for i, e := range v.Arr {
			if i > 0 {
				b.WriteByte(',')
			}
			e.render(b, res, short)
		}
		b.WriteByte(']')
	case v.obj:
		b.WriteByte('{')
		for i, m := range v.Obj {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(m.Key)
			b.Write(k)
			b.WriteByte(':')
			m.Val.render(b, res, short)
		}
		b.WriteByte('}')
	default:
		b.WriteString(v.Lit)
	}
}

// writeBig writes a JSON string of about n bytes, mixing ASCII and multi-byte characters.
func writeBig(b *strings.Builder, g Big) {
	b.WriteByte('"')
	x := g.Seed | 1
	alphabet := []string{"a", "b", "7", " ", "é", "中", "😀", `\"`, `\\`, `\n`, "~"}
	for n := 0; n < g.N; {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		s := alphabet[x%uint64(len(alphabet))]
		if x%5 != 0 {
			s = alphabet[x%3]
		}
		b.WriteString(s)
		n += len(s)
	}
	b.WriteByte('"')
}

// render writes the frame's bytes; id is the id to use when the request takes the run's next.
// short writes big strings as a short one (for the generator's shadow relay).
func (f *Frame) render(res resolver, id uint64, short bool) []byte {
	if f.Req == nil {
		return []byte(f.Raw)
	}
	r := f.Req
	var b strings.Builder
	if r.Envelope != "" {
		b.WriteString(r.Envelope)
	} else {
		b.WriteString(`{"jsonrpc":"2.0"`)
	}
	switch r.ID {
	case "":
		fmt.Fprintf(&b, `,"id":%d`, id)
	case "-":
	default:
		b.WriteString(`,"id":` + r.ID)
	}
	m, _ := json.Marshal(r.Method)
	b.WriteString(`,"method":`)
	b.Write(m)
	if r.Params != nil {
		b.WriteString(`,"params":`)
		r.Params.render(&b, res, short)
	}
	b.WriteByte('}')
	return []byte(b.String())
}

// takesID reports whether the frame uses one of the run's ids.
func (f *Frame) takesID() bool { return f.Req != nil && f.Req.ID == "" }

// answered reports whether the relay must answer the frame with a response carrying an id, so
// that its answer closes the step (a notification, a malformed frame or a binary frame needs a
// barrier request after it).
func (f *Frame) answered() bool {
	return f.Req != nil && f.Req.ID != "-" && f.Req.Envelope == ""
}

// creates reports whether the frame may create a group or session (its Ref target).
func (f *Frame) creates() bool {
	return f.Req != nil && f.Req.Envelope == "" && (f.Req.Method == "Group.create" || f.Req.Method == "Session.create")
}

// slotName is A, B, ... for slots and A2, A3, ... for a slot dialled again.
func slotName(slot, generation int) string {
	name := string(rune('A' + slot%26))
	if slot >= 26 {
		name += strconv.Itoa(slot / 26)
	}
	if generation > 1 {
		name += strconv.Itoa(generation)
	}
	return name
}

// describe is a one-line summary of the step for the list of minimal steps.
func (s *Step) describe(i int) string {
	who := slotName(s.Slot, 0)
	switch s.Close {
	case CloseFrame:
		return fmt.Sprintf("#%d %s closes (close frame)", i, who)
	case CloseAbrupt:
		return fmt.Sprintf("#%d %s closes (TCP only)", i, who)
	}
	var parts []string
	for _, f := range s.Frames {
		switch {
		case f.Binary:
			parts = append(parts, fmt.Sprintf("binary frame (%d bytes)", len(f.Raw)))
		case f.Req == nil:
			parts = append(parts, "malformed "+clip(f.Raw, 60))
		case f.Req.ID == "-":
			parts = append(parts, f.Req.Method+" (notification)")
		default:
			parts = append(parts, f.Req.Method)
		}
	}
	return fmt.Sprintf("#%d %s %s", i, who, strings.Join(parts, " + "))
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
