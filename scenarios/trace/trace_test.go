package trace

import (
	"bytes"
	"strings"
	"testing"
)

func TestWriteThenReadRoundTrips(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.Session(Session{ID: "s", Curve: "ecdsa", Kind: "sign", Parties: 3, Threshold: 1, Members: []uint16{1, 3}}); err != nil {
		t.Fatal(err)
	}
	three := uint16(3)
	msgs := []Message{
		{Session: "s", OffsetUS: 50, Round: 2, Sender: 1, Receiver: &three, Size: 10, Body: []byte(`{"a":1}`)},
		{Session: "s", OffsetUS: 10, Round: 1, Sender: 3, Size: 20},
	}
	for _, m := range msgs {
		if err := w.Message(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	tr, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	s := tr.Sessions[0]
	if len(s.Messages) != 2 || s.Messages[0].OffsetUS != 10 || !s.Messages[0].Broadcast() || *s.Messages[1].Receiver != 3 ||
		string(s.Messages[1].Body) != `{"a":1}` {
		t.Errorf("read back %+v", s.Messages)
	}
	if got := s.Receivers(&s.Messages[0]); len(got) != 1 || got[0] != 1 {
		t.Errorf("broadcast of 3 in {1,3} must reach [1], got %v", got)
	}
}

func TestWriterRefusesMessageBeforeHeader(t *testing.T) {
	w := NewWriter(&bytes.Buffer{})
	if err := w.Message(Message{Session: "x", Sender: 1}); err == nil {
		t.Error("a message before its session header was accepted")
	}
}

func TestReadRejectsBadTraces(t *testing.T) {
	head := `{"type":"session","session":"s","curve":"eddsa","kind":"keygen","parties":2,"threshold":1,"members":[1,2]}` + "\n"
	cases := map[string]string{
		"no session":         "",
		"unknown type":       `{"type":"frame"}`,
		"message first":      `{"type":"message","session":"s","sender":1,"size":1}`,
		"sender not member":  head + `{"type":"message","session":"s","sender":3,"size":1}`,
		"receiver is sender": head + `{"type":"message","session":"s","sender":1,"receiver":1,"size":1}`,
		"bad threshold":      `{"type":"session","session":"s","kind":"keygen","parties":2,"threshold":2,"members":[1,2]}`,
		"session no msgs":    head,
		"not json":           "{",
	}
	for name, src := range cases {
		if _, err := Read(strings.NewReader(src)); err == nil {
			t.Errorf("%s: accepted", name)
		} else if name != "no session" && name != "session no msgs" && !strings.Contains(err.Error(), "line ") {
			t.Errorf("%s: error does not name the line: %v", name, err)
		}
	}
}
