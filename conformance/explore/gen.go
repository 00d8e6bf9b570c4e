package explore

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/google/uuid"

	"mpcrelay/conformance/model"
)

// generator makes the steps of a run from its seed alone. It keeps a shadow relay — the model
// with every choice pinned to the strict reading, answering itself — to aim most requests at
// things that exist (a member's group, a session with room, a party's number); the real relay's
// answers never feed back, so the same seed gives the same steps against any relay.
type generator struct {
	r     *rand.Rand
	slots int
	// the run's current phase, redrawn every phaseSteps steps: how often a connection closes
	// (1 in closeEvery steps) and how much of the traffic creates and joins groups, so that a
	// run has stretches of long-lived connections in many groups and stretches of churn
	closeEvery int
	groupy     int
	shadow     *model.Model
	clock      time.Time
	conn       []model.Conn // shadow connection of each slot (0 = none yet)
	nextC      model.Conn
	refOf      map[int]Ref       // shadow handle → the step that created it
	uuids      map[Ref]uuid.UUID // the shadow's uuids of references
	steps      int
}

func newGenerator(seed int64) *generator {
	r := rand.New(rand.NewPCG(uint64(seed), 0x6d70637265_6c6179))
	g := &generator{r: r, slots: 2 + r.IntN(5), shadow: model.New(model.Options{Fixed: model.Strict()}),
		clock: time.Unix(0, 0), refOf: map[int]Ref{}, uuids: map[Ref]uuid.UUID{}}
	g.conn = make([]model.Conn, g.slots)
	return g
}

func (g *generator) freshUUID() uuid.UUID {
	var u uuid.UUID
	for i := range u {
		u[i] = byte(g.r.UintN(256))
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

// shadowConn is the slot's open shadow connection, dialled when needed.
func (g *generator) shadowConn(slot int) model.Conn {
	c := g.conn[slot]
	if c == 0 || !g.shadow.IsOpen(c) {
		g.nextC++
		c = g.nextC
		g.conn[slot] = c
		g.shadow.Open(c)
	}
	return c
}

// phaseSteps is the length of a phase of a run (see closeEvery).
const phaseSteps = 100

// next makes step number i.
func (g *generator) next() *Step {
	i := g.steps
	g.steps++
	if i%phaseSteps == 0 {
		g.closeEvery, g.groupy = []int{20, 50, 200}[g.r.IntN(3)], 1+g.r.IntN(2)
	}
	g.clock = g.clock.Add(time.Millisecond)
	slot := g.r.IntN(g.slots)
	if g.r.IntN(g.closeEvery) == 0 && g.conn[slot] != 0 && g.shadow.IsOpen(g.conn[slot]) {
		kind := CloseFrame
		if g.r.IntN(2) == 0 {
			kind = CloseAbrupt
		}
		g.shadow.Close(g.conn[slot], g.clock)
		return &Step{Slot: slot, Close: kind}
	}
	c := g.shadowConn(slot)
	st := &Step{Slot: slot}
	n := 1
	if g.r.IntN(10) == 0 {
		n = 2 + g.r.IntN(3) // a burst: requests pipelined without waiting (§1.3)
	}
	for j := range n {
		f := g.frame(c, j < n-1)
		st.Frames = append(st.Frames, f)
		g.feed(c, f, Ref{Step: i, Frame: j})
		if !g.shadow.IsOpen(c) {
			break
		}
	}
	return st
}

// feed runs a generated frame through the shadow relay and remembers what it created.
func (g *generator) feed(c model.Conn, f *Frame, self Ref) {
	data := f.render(func(r Ref) (uuid.UUID, bool) { u, ok := g.uuids[r]; return u, ok }, 1, true)
	g.shadow.Send(c, data, f.Binary, g.clock)
	h, creates := g.shadow.Created()
	g.shadow.Simulate(g.freshUUID)
	if creates {
		if u, ok := g.shadow.UUID(h); ok {
			g.refOf[h] = self
			g.uuids[self] = u
		}
	}
}

// refTo is a reference to the shadow object h (its uuid sometimes in upper case).
func (g *generator) refTo(h int) *Val {
	r := g.refOf[h]
	if g.r.IntN(12) == 0 {
		r.Form = Upper
	}
	return ref(r)
}

// frame makes one frame for connection c; inBurst frames are never Group.join (a full group
// closes the connection, and the frames after it would be read or not at the relay's whim).
func (g *generator) frame(c model.Conn, inBurst bool) *Frame {
	v := g.shadow.View()
	var f *Frame
	for f == nil {
		x := g.r.IntN(100)
		if g.groupy > 1 && g.r.IntN(6) == 0 {
			x = g.r.IntN(16) // a group-heavy run: more creates and joins
		}
		switch {
		case x < 7:
			f = g.groupCreate(c, v)
		case x < 16:
			if !inBurst {
				f = g.groupJoin(c, v)
			}
		case x < 25:
			f = g.sessionCreate(c, v)
		case x < 31:
			f = g.sessionOp(c, v, "Session.join")
		case x < 45:
			f = g.sessionOp(c, v, "Session.signup")
		case x < 53:
			f = g.sessionOp(c, v, "Session.load")
		case x < 72:
			f = g.sessionOp(c, v, "Session.message")
		case x < 81:
			f = g.sessionOp(c, v, "Session.finish")
		case x < 85:
			f = g.proposal(c, v)
		case x < 89:
			f = g.sessionOp(c, v, "Notify.signed")
		case x < 91:
			f = g.request(pick(g.r, []string{"Group.delete", "session.signup", "Session.Signup", "", "rpc.discover", "Notify"}), g.randParams())
		case x < 95:
			f = g.malformed()
		default:
			if !inBurst {
				f = g.envelope()
			}
		}
	}
	return f
}

// request wraps params into a request, sometimes a notification or with an unusual id.
func (g *generator) request(method string, params *Val) *Frame {
	req := &Req{Method: method, Params: params}
	switch x := g.r.IntN(100); {
	case x < 7:
		req.ID = "-"
	case x < 10:
		req.ID = pick(g.r, []string{"9007199254740993", "18446744073709551615", "4294967296", `"id-é-1"`, `"7"`})
	}
	return &Frame{Req: req}
}

func (g *generator) randParams() *Val {
	switch g.r.IntN(4) {
	case 0:
		return nil
	case 1:
		return arr()
	case 2:
		return randValue(g.r, 0)
	}
	return arr(randValue(g.r, 1), randValue(g.r, 1))
}

// groupsOf lists the groups c belongs to (or not).
func groupsOf(v model.View, c model.Conn, member bool) []model.GroupView {
	var out []model.GroupView
	for _, gv := range v.Groups {
		if slices.Contains(gv.Members, c) == member {
			out = append(out, gv)
		}
	}
	return out
}

// groupRef picks a group uuid for c: mostly one it belongs to, sometimes another or none.
func (g *generator) groupRef(c model.Conn, v model.View) (*Val, *model.GroupView) {
	mine := groupsOf(v, c, true)
	others := groupsOf(v, c, false)
	switch x := g.r.IntN(100); {
	case x < 80 && len(mine) > 0:
		gv := mine[g.recent(len(mine))]
		return g.refTo(gv.Handle), &gv
	case x < 92 && len(others) > 0:
		gv := others[g.r.IntN(len(others))]
		return g.refTo(gv.Handle), &gv
	case x < 96:
		return lit(pick(g.r, badUUID)), nil
	}
	return litUUID(g.freshUUID()), nil
}

// recent picks an index of n items, most often one of the last (the newest groups and sessions
// are where a run's action is).
func (g *generator) recent(n int) int {
	return n - 1 - min(n-1, int(g.r.ExpFloat64()*2))
}
