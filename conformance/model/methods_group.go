package model

// The group methods: Group.create (§4.1) and Group.join (§4.2).

func groupObject(g *group) *tmpl {
	return object(field("uuid", handleT(g.h)),
		field("params", object(field("parties", number(int(g.params.parties))), field("threshold", number(int(g.params.threshold))))),
		field("label", str(g.label)))
}

// §4.1
func (w *world) groupCreate(c Conn, r *request) {
	arr, err := positional(r.params, r.hasParams, 2, 2)
	var label string
	var p parameters
	if err == nil {
		label, err = asString(arr[0], "label")
	}
	if err == nil {
		p, err = asParameters(arr[1])
	}
	if err != nil {
		w.fail(c, r, codeInvalidParams)
		return
	}
	if p.parties <= 1 || p.threshold == 0 || p.threshold >= p.parties {
		w.fail(c, r, codeRule)
		return
	}
	g := &group{owner: w.gen, h: r.h, params: p, label: label, members: []Conn{c}, sessions: map[int]*session{}}
	w.groups[r.h] = g
	w.ok(c, r, handleT(r.h))
}

// §4.2
func (w *world) groupJoin(c Conn, r *request) {
	if !r.hasParams {
		w.fail(c, r, codeInvalidParams)
		return
	}
	u, err := asUUID(r.params, "group")
	if err != nil {
		w.fail(c, r, codeInvalidParams)
		return
	}
	g := w.lookupGroup(u)
	if g == nil {
		w.fail(c, r, codeRule)
		return
	}
	member := g.isMember(c)
	if g.full() && (!member || w.choose(RejoinFullGroup) == 1) {
		w.failWith(c, r, codeRule, true)
		return
	}
	if !member {
		g = w.mutGroup(g.h)
		g.members = append(g.members, c)
	}
	w.ok(c, r, groupObject(g))
}
