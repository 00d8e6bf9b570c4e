package explore

import (
	"slices"

	"mpcrelay/conformance/model"
)

// The generator's frames for each method of §4 — mostly aimed at what exists (a member's group,
// a session with room, a party's number), sometimes at what does not or with parameters at and
// past their edges — and the malformed frames of §1.2 and §1.4.

// widthEdges are the limits of the integer types implementations store u16 fields in by mistake.
var widthEdges = []int{127, 128, 255, 256, 32767, 32768, 65534}

// u16 is a number for a u16 field: mostly good, at the edges (the field's own, the protocol's
// and those of narrower integer types), sometimes past them.
func (g *generator) u16(good func() int, edges ...int) *Val {
	switch x := g.r.IntN(100); {
	case x < 75:
		return num(int64(good()))
	case x < 85:
		edges = append(edges, 0, 1, 65535)
		return num(int64(edges[g.r.IntN(len(edges))]))
	case x < 92:
		return num(int64(widthEdges[g.r.IntN(len(widthEdges))]))
	}
	return lit(pick(g.r, badU16))
}

// groupsPerConn bounds the groups a connection creates or joins: well below relays'
// per-connection group limits, which the protocol leaves to them.
const groupsPerConn = 24

// §4.1
func (g *generator) groupCreate(c model.Conn, v model.View) *Frame {
	if len(groupsOf(v, c, true)) >= groupsPerConn {
		return nil
	}
	parties := 2 + g.r.IntN(4)
	switch g.r.IntN(10) {
	case 0:
		parties = 2 + g.r.IntN(65534)
	case 1:
		parties = widthEdges[g.r.IntN(len(widthEdges))] + g.r.IntN(3) - 1
	}
	threshold := 1 + g.r.IntN(parties-1)
	p := obj(member("parties", g.u16(func() int { return parties }, 2, 3)),
		member("threshold", g.u16(func() int { return threshold }, parties-1, parties, parties+1)))
	switch g.r.IntN(40) {
	case 0:
		p = obj(member("parties", num(int64(parties)))) // threshold missing
	case 1:
		p = obj(member("threshold", num(int64(threshold))), member("parties", num(int64(parties))), member("extra", randValue(g.r, 2)))
	case 2:
		p = arr(num(int64(parties)), num(int64(threshold)))
	}
	label := stringVal(g.r, randString(g.r, 40))
	if g.r.IntN(3) == 0 {
		label = stringVal(g.r, randString(g.r, 300))
	}
	params := arr(label, p)
	switch g.r.IntN(30) {
	case 0:
		params = arr(label)
	case 1:
		params = arr(label, p, lit("null"))
	case 2:
		params = arr(randValue(g.r, 1), p)
	}
	return g.request("Group.create", params)
}

// §4.2
func (g *generator) groupJoin(c model.Conn, v model.View) *Frame {
	if len(groupsOf(v, c, true)) >= groupsPerConn {
		return nil
	}
	var params *Val
	others := groupsOf(v, c, false)
	var open, full []model.GroupView
	for _, gv := range others {
		if len(gv.Members) < gv.Parties {
			open = append(open, gv)
		} else {
			full = append(full, gv)
		}
	}
	switch x := g.r.IntN(100); {
	case x < 60 && len(open) > 0:
		params = g.refTo(open[g.recent(len(open))].Handle)
	case x < 68 && len(full) > 0:
		params = g.refTo(full[g.r.IntN(len(full))].Handle) // §2.5: refused with close-connection
	case x < 80:
		mine := groupsOf(v, c, true)
		if len(mine) == 0 {
			return nil
		}
		params = g.refTo(mine[g.r.IntN(len(mine))].Handle) // joining twice (§4.2)
	case x < 86:
		params = litUUID(g.freshUUID())
	case x < 95:
		params = lit(pick(g.r, badUUID))
	default:
		gr, _ := g.groupRef(c, v)
		params = arr(gr) // an array, not the bare string §4.2 asks for
	}
	return g.request("Group.join", params)
}

// §4.3
func (g *generator) sessionCreate(c model.Conn, v model.View) *Frame {
	gr, _ := g.groupRef(c, v)
	kind := lit(pick(g.r, []string{`"keygen"`, `"sign"`}))
	if g.r.IntN(20) == 0 {
		kind = lit(pick(g.r, badKind))
	}
	value := lit("null")
	if g.r.IntN(3) != 0 {
		value = randPayload(g.r)
	}
	params := arr(gr, kind, value)
	switch g.r.IntN(25) {
	case 0:
		params = arr(gr, kind)
	case 1:
		params = arr(gr, kind, value, lit("1"))
	}
	return g.request("Session.create", params)
}

// pickSession picks a session for c: mostly one of a group c belongs to, preferably one where
// prefer holds (c is a party, the session has room).
func (g *generator) pickSession(c model.Conn, v model.View, prefer func(*model.GroupView, *model.SessionView) bool) (*model.GroupView, *model.SessionView) {
	type entry struct {
		g model.GroupView
		s model.SessionView
	}
	var mine, preferred, any []entry
	for _, gv := range v.Groups {
		for _, sv := range gv.Sessions {
			e := entry{gv, sv}
			any = append(any, e)
			if slices.Contains(gv.Members, c) {
				mine = append(mine, e)
				if prefer != nil && prefer(&e.g, &e.s) {
					preferred = append(preferred, e)
				}
			}
		}
	}
	switch x := g.r.IntN(100); {
	case x < 60 && len(preferred) > 0:
		e := preferred[g.recent(len(preferred))]
		return &e.g, &e.s
	case x < 88 && len(mine) > 0:
		e := mine[g.recent(len(mine))]
		return &e.g, &e.s
	case x < 96 && len(any) > 0:
		e := any[g.r.IntN(len(any))]
		return &e.g, &e.s
	}
	return nil, nil
}

// requiredOf is the party count that completes the session (§4.5).
func requiredOf(gv *model.GroupView, sv *model.SessionView) int {
	if sv.Kind == "sign" {
		return gv.Threshold + 1
	}
	return gv.Parties
}

func numberOf(s *model.SessionView, c model.Conn) (uint16, bool) {
	for _, p := range s.Parties {
		if p.Conn == c {
			return p.Number, true
		}
	}
	return 0, false
}

// sessionOp builds the session methods of §4.4–§4.8 and §4.10.
func (g *generator) sessionOp(c model.Conn, v model.View, method string) *Frame {
	var prefer func(*model.GroupView, *model.SessionView) bool
	switch method {
	case "Session.signup", "Session.load":
		prefer = func(gv *model.GroupView, sv *model.SessionView) bool { return len(sv.Parties) < requiredOf(gv, sv) }
	case "Session.message", "Session.finish":
		prefer = func(_ *model.GroupView, sv *model.SessionView) bool { _, ok := numberOf(sv, c); return ok }
	}
	gv, sv := g.pickSession(c, v, prefer)
	var gr, sr *Val
	kind := lit(`"keygen"`)
	if sv == nil {
		gr, gv = g.groupRef(c, v)
		sr = litUUID(g.freshUUID())
		if g.r.IntN(2) == 0 {
			kind = lit(`"sign"`)
		}
	} else {
		gr, sr = g.refTo(gv.Handle), g.refTo(sv.Handle)
		kind = litJSON(sv.Kind)
		if g.r.IntN(10) == 0 {
			kind = lit(pick(g.r, []string{`"keygen"`, `"sign"`}))
		}
	}
	if g.r.IntN(40) == 0 {
		kind = lit(pick(g.r, badKind))
	}
	if g.r.IntN(40) == 0 {
		sr = lit(pick(g.r, badUUID))
	}
	parties := 3
	if gv != nil {
		parties = gv.Parties
	}
	var params *Val
	switch method {
	case "Session.join", "Session.signup":
		params = arr(gr, sr, kind)
	case "Session.load":
		params = arr(gr, sr, kind, g.u16(func() int { return g.loadNumber(sv, parties) }, parties, parties+1))
	case "Session.message":
		params = arr(gr, sr, kind, g.message(c, sv, sr, parties))
	case "Session.finish":
		params = arr(gr, sr, g.u16(func() int { return g.finishNumber(c, sv) }, parties, parties+1))
	case "Notify.signed":
		params = arr(gr, sr, randPayload(g.r))
	}
	if g.r.IntN(40) == 0 {
		params = g.mangleArity(params)
	}
	return g.request(method, params)
}

func (g *generator) mangleArity(p *Val) *Val {
	if len(p.Arr) > 1 && g.r.IntN(2) == 0 {
		return arr(p.Arr[:len(p.Arr)-1]...)
	}
	if g.r.IntN(3) == 0 {
		return obj(member("group", p.Arr[0]))
	}
	return arr(append(slices.Clone(p.Arr), lit("null"))...)
}

// loadNumber is a number to claim: mostly free, sometimes taken.
func (g *generator) loadNumber(sv *model.SessionView, parties int) int {
	taken := map[int]bool{}
	if sv != nil {
		for _, p := range sv.Parties {
			taken[int(p.Number)] = true
		}
		if len(sv.Parties) > 0 && g.r.IntN(5) == 0 {
			return int(sv.Parties[g.r.IntN(len(sv.Parties))].Number)
		}
	}
	for range 8 {
		n := 1 + g.r.IntN(min(parties, 8))
		if parties > 8 && g.r.IntN(3) == 0 {
			n = 1 + g.r.IntN(parties)
			if e := widthEdges[g.r.IntN(len(widthEdges))]; e <= parties && g.r.IntN(2) == 0 {
				n = e
			}
		}
		if !taken[n] {
			return n
		}
	}
	return 1 + g.r.IntN(parties)
}

func (g *generator) finishNumber(c model.Conn, sv *model.SessionView) int {
	if sv == nil || len(sv.Parties) == 0 {
		return 1 + g.r.IntN(3)
	}
	if n, ok := numberOf(sv, c); ok && g.r.IntN(5) != 0 {
		return int(n)
	}
	return int(sv.Parties[g.r.IntN(len(sv.Parties))].Number)
}

// message builds a §3.5 message.
func (g *generator) message(c model.Conn, sv *model.SessionView, sr *Val, parties int) *Val {
	sender := 1 + g.r.IntN(3)
	if sv != nil {
		if n, ok := numberOf(sv, c); ok {
			sender = int(n)
		}
	}
	ms := []Member{
		member("round", g.u16(func() int { return 1 + g.r.IntN(9) })),
		member("sender", g.u16(func() int { return sender })),
	}
	switch x := g.r.IntN(100); {
	case x < 35: // broadcast, receiver absent
	case x < 50:
		ms = append(ms, member("receiver", lit("null")))
	default:
		to := 1 + g.r.IntN(parties+1)
		if sv != nil && len(sv.Parties) > 0 && x < 92 {
			to = int(sv.Parties[g.r.IntN(len(sv.Parties))].Number)
		}
		ms = append(ms, member("receiver", g.u16(func() int { return to }, parties+1)))
	}
	if g.r.IntN(10) != 0 {
		ms = append(ms, member("uuid", sr))
	}
	if g.r.IntN(15) != 0 {
		ms = append(ms, member("body", randPayload(g.r)))
	}
	g.r.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
	return obj(ms...)
}

// §4.9
func (g *generator) proposal(c model.Conn, v model.View) *Frame {
	gr, gv := g.groupRef(c, v)
	sr := litUUID(g.freshUUID())
	if gv != nil && len(gv.Sessions) > 0 {
		sr = g.refTo(gv.Sessions[g.r.IntN(len(gv.Sessions))].Handle)
	}
	params := arr(gr, sr, stringVal(g.r, randString(g.r, 30)), stringVal(g.r, randString(g.r, 200)))
	switch g.r.IntN(20) {
	case 0:
		params = arr(gr, sr, num(7), stringVal(g.r, "x"))
	case 1:
		params = arr(gr, sr, stringVal(g.r, "p"))
	}
	return g.request("Notify.proposal", params)
}

// malformed frames: not JSON, not a request, batches, binary (§1.2, §1.4).
func (g *generator) malformed() *Frame {
	switch g.r.IntN(9) {
	case 0:
		return &Frame{Binary: true, Raw: string([]byte{0xde, 0xad, byte(g.r.IntN(256))})}
	case 1:
		return &Frame{Raw: `{"jsonrpc":"2.0","id":1,"method":`}
	case 2:
		return &Frame{Raw: pick(g.r, []string{"[]", `[{"jsonrpc":"2.0","id":99,"method":"Group.join","params":"x"}]`, `[1,2]`})}
	case 3:
		return &Frame{Raw: pick(g.r, []string{`"just a string"`, "42", "null", "true"})}
	case 4:
		return &Frame{Raw: pick(g.r, []string{"{}", `{"jsonrpc":"2.0"}`, `{"jsonrpc":"2.0","id":5}`, `{"id":5,"method":"Group.create"}`})}
	case 5:
		return &Frame{Raw: "not json at all " + randString(g.r, 20)}
	case 6:
		return &Frame{Raw: `{"jsonrpc":"2.0","id":1,"method":"Group.create","params":[]} trailing`}
	case 7:
		return &Frame{Raw: " \n\t" + `{"jsonrpc":"2.0","method":"Explore.padded"}`}
	}
	return &Frame{Raw: `{"jsonrpc":"2.0","id":{"x":1},"method":"Group.create"}`}
}

// envelope is a request with a broken envelope (§1.4, §2.1).
func (g *generator) envelope() *Frame {
	f := g.request("Group.create", arr(litJSON("x"), obj(member("parties", num(2)), member("threshold", num(1)))))
	f.Req.Envelope = pick(g.r, []string{`{"jsonrpc":"1.0"`, `{"jsonrpc":2.0`, `{"jsonrpc":null`, `{"json-rpc":"2.0"`, `{"x":1`})
	return f
}
