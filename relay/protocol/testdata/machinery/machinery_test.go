// Package machinery measures the JSON machinery candidates of the relay's request decoder on
// one Session.message frame with a 1 KiB body (README, "How it is built for speed"). It is a
// module of its own under testdata, so that the candidates do not become dependencies of
// mpcrelay:
//
//	cd relay/protocol/testdata/machinery && go test -bench . -benchmem
package machinery

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
	segjson "github.com/segmentio/encoding/json"
	"github.com/tidwall/gjson"
	"github.com/valyala/fastjson"
)

var frame = []byte(`{"jsonrpc":"2.0","id":1,"method":"Session.message","params":["6f2c8a1e-3b4d-4e5f-8a9b-0c1d2e3f4a5b","6f2c8a1e-3b4d-4e5f-8a9b-0c1d2e3f4a5c","keygen",{"round":1,"sender":1,"receiver":null,"uuid":"6f2c8a1e-3b4d-4e5f-8a9b-0c1d2e3f4a5c","body":"` + strings.Repeat("a", 1024) + `"}]}`)

func BenchmarkStdValid(b *testing.B) {
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if !json.Valid(frame) {
			b.Fatal()
		}
	}
}

type req struct {
	JSONRPC *string         `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  *string         `json:"method"`
	Params  json.RawMessage `json:"params"`
}

func BenchmarkStdUnmarshalEnvelope(b *testing.B) {
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		var r req
		if json.Unmarshal(frame, &r) != nil {
			b.Fatal()
		}
	}
}

func BenchmarkSegmentioValid(b *testing.B) {
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if !segjson.Valid(frame) {
			b.Fatal()
		}
	}
}

func BenchmarkGjsonValid(b *testing.B) {
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if !gjson.ValidBytes(frame) {
			b.Fatal()
		}
	}
}

func BenchmarkFastjsonParse(b *testing.B) {
	b.SetBytes(int64(len(frame)))
	var p fastjson.Parser
	for b.Loop() {
		if _, err := p.ParseBytes(frame); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJsontextTokens(b *testing.B) {
	b.SetBytes(int64(len(frame)))
	d := jsontext.NewDecoder(bytes.NewBuffer(nil), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		buf.Write(frame)
		d.Reset(&buf, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
		for {
			k := d.PeekKind()
			if k == 0 {
				break
			}
			if k == '"' || k == '0' || k == 'n' || k == 't' || k == 'f' {
				if _, err := d.ReadValue(); err != nil {
					b.Fatal(err)
				}
				continue
			}
			if _, err := d.ReadToken(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
