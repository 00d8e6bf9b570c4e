package model

import (
	"testing"
	"time"
)

func TestDevClose(t *testing.T) {
	m := New(Options{CloseGrace: 2 * time.Second})
	now := time.Now()
	m.Open(1)
	m.Send(1, []byte(`{"jsonrpc":"2.0","id":2,"method":"Group.create","params":["x",{"parties":2,"threshold":1}]}`), false, now)
	if err := m.Receive(1, Frame{Data: []byte(`{"jsonrpc":"2.0","id":2,"result":"1b658e68-f8e2-473d-9f16-ca010ebf3ec7"}`)}); err != nil {
		t.Fatal(err)
	}
	m.Close(1, now)
	m.Open(2)
	m.Send(2, []byte(`{"jsonrpc":"2.0","method":"Group.join","params":"1b658e68-f8e2-473d-9f16-ca010ebf3ec7"}`), false, now)
	t.Log(m.Worlds())
	m.Send(2, []byte(`{"jsonrpc":"2.0","id":4,"method":"Explore.barrier"}`), false, now)
	t.Log(m.Worlds())
	if err := m.Receive(2, Frame{Data: []byte(`{"jsonrpc":"2.0","id":4,"error":{"code":-32601,"message":"x"}}`)}); err != nil {
		t.Fatal(err)
	}
	t.Log(m.Worlds())
	for _, w := range m.worlds {
		t.Log(w.choices, w.pending, len(w.groups))
	}
	m.Send(2, []byte(`{"jsonrpc":"2.0","id":5,"method":"Session.create","params":["1b658e68-f8e2-473d-9f16-ca010ebf3ec7","keygen",null]}`), false, now)
	if err := m.Receive(2, Frame{Data: []byte(`{"jsonrpc":"2.0","id":5,"error":{"code":-32603,"message":"x"}}`)}); err != nil {
		t.Fatal(err)
	}
}
