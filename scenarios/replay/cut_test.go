package replay

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"mpcrelay/scenarios/trace"
)

// viaScan is how any frame is read: the envelope scanned, the event split, the message read.
func viaScan(frame []byte, expect func(int) []byte) (wireMessage, bool) {
	env, ok := scanEnvelope(frame)
	if !ok || !env.isEvent() {
		return wireMessage{}, false
	}
	name, payload, ok := env.event()
	if !ok || string(name) != "sessionMessage" {
		return wireMessage{}, false
	}
	return scanMessage(payload, expect)
}

func sameMessage(a, b wireMessage) bool {
	return a.round == b.round && a.sender == b.sender && a.receiver == b.receiver && a.have == b.have &&
		a.slowBody == b.slowBody && bytes.Equal(a.uuid, b.uuid) && bytes.Equal(a.body, b.body)
}

// Whenever a cut frame's middle reads as a message, scanning the whole frame reads the same
// message: the cut changes what the generator spends, never a verdict. (A middle that does
// not read as one message is scanned whole: see TestCutFrameNotOneMessageIsScannedWhole.)
func FuzzCutMessageEventAgreesWithScan(f *testing.F) {
	expect := func(k int) []byte {
		if k == 1 {
			return []byte(`{"k":1,"p":"x"}`)
		}
		return nil
	}
	for _, s := range []string{
		`{"round":2,"sender":1,"receiver":null,"uuid":"u","body":{"k":1,"p":"x"}}`,
		`{"round":2,"sender":1,"receiver":3,"uuid":"u","body":{"k":1,"p":"y"}}`,
		`{"round":2,"sender":1,"receiver":null,"uuid":"u","body":{"k":1}}],"x":[{"a":1}`,
		`{"round":2,"sender":1,"uuid":"u","body":[1,2]}`,
		`{"round":2 , "sender":1,"uuid":"u\"","body":{"k":1,"p":"x"} }`,
		`{"round":2,"sender":1,"uuid":"u","body":{"k":1,"p":"x"},"round":3}`,
	} {
		f.Add(messageEventHead + s + "]}")
	}
	f.Fuzz(func(t *testing.T, frame string) {
		env, ok := cutMessageEvent([]byte(frame))
		if !ok {
			return
		}
		name, payload, _ := env.event()
		cut, ok := scanMessage(payload, expect)
		if !ok {
			return
		}
		whole, ok := viaScan([]byte(frame), expect)
		if !ok || !sameMessage(cut, whole) || string(name) != "sessionMessage" || !env.isEvent() {
			t.Fatalf("cut %+v, scanned whole %+v (%v)", cut, whole, ok)
		}
	})
}

// A frame that has the layout of a cut event but whose middle is not one message — here an
// event with one more envelope member — is judged as the whole frame reads: a message of a
// session the group never ran (misdelivered), not a corrupt frame; and a frame that is not
// JSON at all counts corrupt once.
func TestCutFrameNotOneMessageIsScannedWhole(t *testing.T) {
	rcv := uint16(2)
	ts := &trace.Session{ID: "s", Kind: "keygen", Parties: 2, Threshold: 1, Members: []uint16{1, 2},
		Messages: []trace.Message{{Round: 1, Sender: 1, Receiver: &rcv, Size: 40}}}
	p, err := newPlan(ts, false)
	if err != nil {
		t.Fatal(err)
	}
	e := &engine{cfg: Config{Target: TargetRelay}}
	g := &group{e: e, plan: p}
	pc := &peer{g: g, index: 1}
	msg := fmt.Sprintf(`{"round":1,"sender":1,"receiver":2,"uuid":"%s","body":%s}`, "00000000-0000-0000-0000-000000000001", p.msgs[0].body)
	for _, c := range []struct {
		frame                 string
		misdelivered, corrupt int64
	}{
		{messageEventHead + msg + `],"extra":[1]}`, 1, 0},
		{messageEventHead + msg + `]}`, 1, 0},
		{messageEventHead + `{"round":1,` + "]}", 0, 1},
	} {
		e.misdelivered.Store(0)
		e.corrupt.Store(0)
		env, ok := cutMessageEvent([]byte(c.frame))
		if !ok {
			t.Fatalf("not cut: %s", c.frame)
		}
		pc.onFrame([]byte(c.frame), &env, time.Now(), 0)
		if e.misdelivered.Load() != c.misdelivered || e.corrupt.Load() != c.corrupt {
			t.Errorf("%s\nExpected: misdelivered %d, corrupt %d\nActual:   misdelivered %d, corrupt %d",
				c.frame, c.misdelivered, c.corrupt, e.misdelivered.Load(), e.corrupt.Load())
		}
	}
}
