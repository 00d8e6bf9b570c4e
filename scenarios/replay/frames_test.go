package replay

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

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
	return collectWatching(stream, sizes, func(*inbox) {})
}

// collectWatching is collect with watch called after each read is taken apart.
func collectWatching(stream []byte, sizes func(i int) int, watch func(*inbox)) ([]string, error) {
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
		watch(&in)
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

// An incomplete frame holds memory for the bytes that came, not for the size its header
// declares: a relay that sends only the header of a 64 MiB frame (readLimit) on each of many
// connections must not make the generator allocate 64 MiB per connection. A large frame that
// does come, in pieces, comes out whole, its buffer doubling as it fills (a few moves, not one
// per read).
func TestInboxHoldsWhatArrivedNotWhatIsDeclared(t *testing.T) {
	var header bytes.Buffer
	if err := ws.WriteHeader(&header, ws.Header{Fin: true, OpCode: ws.OpText, Length: readLimit}); err != nil {
		t.Fatal(err)
	}
	const arrived = 1 << 20 // of the 64 MiB declared
	stream := append(header.Bytes(), bytes.Repeat([]byte("h"), arrived)...)
	sizes := func(i int) int {
		if i == 0 {
			return header.Len() + 100 // the header and a few bytes first
		}
		return 64 << 10
	}
	const slack = 16 << 10 // the buffer grows when less than this is left
	reads := 0
	_, err := collectWatching(stream, sizes, func(in *inbox) {
		reads++
		held, c := len(*in.part), cap(*in.part)
		switch {
		case reads == 1 && c > partBufSize:
			t.Fatalf("a header declaring %d bytes and 100 bytes\nExpected: a buffer of at most %d bytes held\nActual:   %d", readLimit, partBufSize, c)
		case c > max(partBufSize, 2*held+slack):
			t.Fatalf("%d bytes of a frame in\nExpected: a buffer of at most %d bytes held\nActual:   %d", held, max(partBufSize, 2*held+slack), c)
		}
	})
	if err == nil || err.Error() != "bytes left over" {
		t.Fatalf("Expected: the frame still incomplete\nActual:   %v", err)
	}

	payload := bytes.Repeat([]byte("0123456789abcdef"), 5<<20/16)
	payload[len(payload)-1] = '!'
	stream = serverFrames(t, ws.NewTextFrame(payload), ws.NewTextFrame([]byte("after")))
	want := []string{"1:" + string(payload), "1:after"}
	for _, size := range []int{4096, 64 << 10, 300 << 10} {
		moves, last := 0, (*[]byte)(nil)
		got, err := collectWatching(stream, func(int) int { return size }, func(in *inbox) {
			if in.part != nil && in.part != last {
				moves++
				last = in.part
			}
		})
		if err != nil || strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("reads of %d bytes\nExpected: a 5 MiB frame whole, then \"after\"\nActual:   %d frames, %v", size, len(got), err)
		}
		// 256 KiB doubling to 5 MiB: six buffers; a buffer per read would be hundreds.
		if moves > 8 {
			t.Fatalf("reads of %d bytes\nExpected: at most 8 buffers for a 5 MiB frame (doubling)\nActual:   %d", size, moves)
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

// Sending and handing on frames allocates nothing per frame: each allocation is paid again in
// GC on the generator's side of the CPU ratio.
func TestFramesAllocateNothingPerFrame(t *testing.T) {
	payload := bytes.Repeat([]byte("x"), 300)
	b := append(beginFrame(nil), payload...)
	if n := testing.AllocsPerRun(100, func() {
		b = append(beginFrame(b), payload...)
		_ = sealFrame(b, ws.OpText)
	}); n != 0 {
		t.Errorf("Expected: sealFrame allocates nothing\nActual:   %.1f allocations a frame", n)
	}
	w := &wire{onFrame: func([]byte, *envelope, time.Time) {}}
	frame := []byte(messageEventHead + `{"round":1,"sender":1,"receiver":null,"uuid":"u","body":{"k":1}}]}`)
	at := time.Now()
	if n := testing.AllocsPerRun(100, func() { w.dispatch(frame, at) }); n != 0 {
		t.Errorf("Expected: handing on a message event allocates nothing\nActual:   %.1f allocations a frame", n)
	}
}
