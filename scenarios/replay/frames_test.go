package replay

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

// serverFrames encodes frames as a server sends them (unmasked, §5.1).
func serverFrames(t *testing.T, frames ...ws.Frame) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, f := range frames {
		if err := ws.WriteFrame(&b, f); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// collect feeds stream to an inbox in reads of the given sizes, as the poller does (an
// incomplete frame kept, the next read appended to it), and returns what it handed on.
func collect(stream []byte, sizes func(i int) int) ([]string, error) {
	var in inbox
	var got []string
	handle := func(op ws.OpCode, p []byte) error {
		got = append(got, fmt.Sprintf("%d:%s", op, p))
		return nil
	}
	for i := 0; len(stream) > 0; i++ {
		n := min(sizes(i), len(stream))
		var data []byte
		if in.part != nil {
			space := in.space()
			n = min(n, len(space))
			*in.part = append(*in.part, stream[:n]...)
			data = *in.part
		} else {
			data = stream[:n]
		}
		stream = stream[n:]
		used, err := in.feed(data, handle)
		if err != nil {
			return got, err
		}
		in.keep(data[used:])
	}
	if in.part != nil {
		return got, errors.New("bytes left over")
	}
	return got, nil
}

// Frames split anywhere between reads — inside headers, inside payloads — come out whole and in
// order; a fragmented message comes out as one, with a control frame between its fragments
// handed on at once (§5.4).
func TestInboxReassemblesFramesSplitAnywhere(t *testing.T) {
	big := strings.Repeat("x", 70000) // a 64-bit length header (§5.2)
	stream := serverFrames(t,
		ws.NewTextFrame([]byte(`{"id":1}`)),
		ws.NewTextFrame([]byte(big)),
		ws.NewFrame(ws.OpText, false, []byte("par")),
		ws.NewPingFrame([]byte("p")),
		ws.NewFrame(ws.OpContinuation, false, []byte("t")),
		ws.NewFrame(ws.OpContinuation, true, []byte("s")),
		ws.NewTextFrame(bytes.Repeat([]byte("y"), 300)), // a 16-bit length header
	)
	want := []string{"1:" + `{"id":1}`, "1:" + big, "9:p", "1:parts", "1:" + strings.Repeat("y", 300)}
	for _, size := range []int{2, 3, 7, 100, 4096, 1 << 20} {
		// Byte by byte up to the large frame, then reads of size.
		got, err := collect(stream, func(i int) int {
			if i < 20 {
				return 1
			}
			return size
		})
		if err != nil || strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("reads of %d bytes\nExpected: %d frames\nActual:   %d frames, %v", size, len(want), len(got), err)
		}
	}
}

// A server that breaks RFC 6455 ends the connection with a protocol error.
func TestInboxRefusesBrokenFrames(t *testing.T) {
	masked := ws.MaskFrame(ws.NewTextFrame([]byte("x")))
	cases := map[string][]byte{
		"masked":               serverFrames(t, masked),
		"continuation first":   serverFrames(t, ws.NewFrame(ws.OpContinuation, true, []byte("x"))),
		"text inside fragment": serverFrames(t, ws.NewFrame(ws.OpText, false, []byte("a")), ws.NewTextFrame([]byte("b"))),
		"fragmented ping":      serverFrames(t, ws.NewFrame(ws.OpPing, false, nil)),
		"reserved opcode":      {0x83, 0},
		"reserved bit":         {0xc1, 0},
		"over the limit":       {0x81, 127, 0, 0, 0, 0x10, 0, 0, 0, 0},
	}
	for name, stream := range cases {
		if _, err := collect(stream, func(int) int { return 1 << 16 }); !errors.Is(err, errProtocol) {
			t.Errorf("%s\nExpected: a protocol error\nActual:   %v", name, err)
		}
	}
}

// An outgoing frame is a masked text frame (§5.3) the server side decodes back to the payload.
func TestSealFrameIsAMaskedClientFrame(t *testing.T) {
	for _, size := range []int{0, 125, 126, 65535, 65536, 200000} {
		payload := bytes.Repeat([]byte("z"), size)
		b := append(beginFrame(nil), payload...)
		frame := sealFrame(b, ws.OpText)
		f, err := ws.ReadFrame(bytes.NewReader(frame))
		if err != nil {
			t.Fatal(err)
		}
		f = ws.UnmaskFrameInPlace(f)
		if !f.Header.Fin || f.Header.OpCode != ws.OpText || !bytes.Equal(f.Payload, payload) {
			t.Fatalf("size %d\nExpected: a final text frame with the payload\nActual:   %+v", size, f.Header)
		}
		if size > 0 && bytes.Equal(frame[len(frame)-size:], payload) {
			t.Fatalf("size %d: the payload went out unmasked", size)
		}
	}
}
