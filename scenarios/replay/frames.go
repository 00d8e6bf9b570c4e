package replay

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/gobwas/ws"
)

// WebSocket framing (RFC 6455 §5) of the generator's connections, with github.com/gobwas/ws:
// unlike gorilla's Conn, which reads frames from a net.Conn itself (one goroutine per
// connection), it encodes and decodes frame headers over bytes the caller holds, so that a
// poller can read many connections' frames with one read each and take them apart in place.

// headroom is the room kept before a frame's payload for its header: the largest one, masked.
const headroom = ws.MaxHeaderSize

// beginFrame starts an outgoing frame in b: the payload is appended after the headroom.
func beginFrame(b []byte) []byte {
	var room [headroom]byte
	return append(b[:0], room[:]...)
}

// sealFrame turns b (from beginFrame, the payload appended) into a masked client text frame
// (§5.3): the header is written just before the payload and the payload masked in place, so the
// payload is never copied. The frame is the returned sub-slice of b.
func sealFrame(b []byte, op ws.OpCode) []byte {
	payload := b[headroom:]
	h := ws.Header{Fin: true, OpCode: op, Masked: true, Mask: ws.NewMask(), Length: int64(len(payload))}
	start := headroom - ws.HeaderSize(h)
	// Pooled: as an io.Writer the writer would be allocated for every frame sent.
	hw := headerWriters.Get().(*sliceWriter)
	hw.b = b[start:start]
	if err := ws.WriteHeaderBuffer(hw, h, hw.scratch[:]); err != nil {
		panic(err) // a header of a valid length always fits
	}
	hw.b = nil
	headerWriters.Put(hw)
	ws.Cipher(payload, h.Mask, 0)
	return b[start:]
}

var headerWriters = sync.Pool{New: func() any { return new(sliceWriter) }}

// sliceWriter writes into the bytes of b (within its capacity, never reallocating).
type sliceWriter struct {
	b       []byte
	scratch [ws.MaxHeaderSize]byte
}

func (w *sliceWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// outBufs recycles the buffers outgoing frames are put together in.
var outBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// inbox takes apart the frames of one connection from the bytes its reads bring (§5.2), keeps
// an incomplete frame until the rest arrives, joins fragmented messages (§5.4) and hands each
// whole text message to the wire.
type inbox struct {
	part    *[]byte // an incomplete frame's bytes so far (pooled); nil when there is none
	need    int     // that frame's whole size once its header is in, else 0
	frag    []byte  // a fragmented message's payload so far
	fragOp  ws.OpCode
	fragged bool
	hr      bytes.Reader
	hb      [ws.MaxHeaderSize]byte
}

// partBufs hold incomplete frames: big enough for the 178 KB keygen broadcasts, so one buffer
// takes such a frame whole; larger frames move to a buffer of their own as they arrive (keep).
const partBufSize = 256 << 10

var partBufs = sync.Pool{New: func() any { b := make([]byte, 0, partBufSize); return &b }}

// errProtocol ends a connection whose peer broke RFC 6455.
var errProtocol = errors.New("websocket protocol error")

// frameHandler gets each complete frame: op and payload (valid until it returns).
type frameHandler func(op ws.OpCode, payload []byte) error

// feed takes apart the complete frames at the start of data and returns how many bytes they
// took; the rest is the start of an incomplete frame, whose whole size is in.need when known.
func (in *inbox) feed(data []byte, handle frameHandler) (int, error) {
	off := 0
	in.need = 0
	for off < len(data) {
		in.hr.Reset(data[off:])
		h, err := ws.ReadHeaderBuffer(&in.hr, in.hb[:])
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return off, nil // the header is not all in yet
		}
		if err != nil {
			return off, fmt.Errorf("%w: %v", errProtocol, err)
		}
		hlen := len(data) - off - in.hr.Len()
		if h.Length > readLimit {
			return off, fmt.Errorf("%w: a frame of %d bytes (limit %d)", errProtocol, h.Length, readLimit)
		}
		size := hlen + int(h.Length)
		if len(data)-off < size {
			in.need = size
			return off, nil
		}
		if err := in.frame(h, data[off+hlen:off+size], handle); err != nil {
			return off, err
		}
		off += size
	}
	return off, nil
}

// frame checks one frame (§5.2–§5.5) and passes on whole messages and control frames.
func (in *inbox) frame(h ws.Header, payload []byte, handle frameHandler) error {
	switch {
	case h.Masked:
		return fmt.Errorf("%w: a masked frame from the server (§5.1)", errProtocol)
	case h.Rsv != 0:
		return fmt.Errorf("%w: reserved bits set with no extension negotiated (§5.2)", errProtocol)
	case h.OpCode.IsReserved():
		return fmt.Errorf("%w: reserved opcode %d (§5.2)", errProtocol, h.OpCode)
	case h.OpCode.IsControl():
		if !h.Fin || h.Length > 125 {
			return fmt.Errorf("%w: a fragmented or long control frame (§5.5)", errProtocol)
		}
		return handle(h.OpCode, payload)
	case h.OpCode == ws.OpContinuation:
		if !in.fragged {
			return fmt.Errorf("%w: a continuation frame with no message to continue (§5.4)", errProtocol)
		}
		if len(in.frag)+len(payload) > readLimit {
			return fmt.Errorf("%w: a message above %d bytes", errProtocol, readLimit)
		}
		in.frag = append(in.frag, payload...)
		if !h.Fin {
			return nil
		}
		msg, op := in.frag, in.fragOp
		in.frag, in.fragged = nil, false
		return handle(op, msg)
	case h.OpCode.IsData():
		if in.fragged {
			return fmt.Errorf("%w: a new message inside a fragmented one (§5.4)", errProtocol)
		}
		if h.Fin {
			return handle(h.OpCode, payload)
		}
		in.frag = append(in.frag[:0], payload...)
		in.fragOp, in.fragged = h.OpCode, true
	}
	return nil
}

// keep stores rest, the start of an incomplete frame, until more bytes come (or lets go of the
// buffer when there is none). rest may alias the buffer already kept.
//
// The buffer grows with the bytes that came, never ahead of them to the size the header
// declares: a peer that declares a frame of readLimit bytes and sends a few would otherwise make
// each connection hold 64 MiB (900 connections: 57 GiB). A frame starts in a pooled buffer; a
// larger one's buffer doubles each time it fills (capped by the frame's size), so the frame is
// still read straight into its own buffer and each byte is copied about once more in all.
func (in *inbox) keep(rest []byte) {
	if len(rest) == 0 {
		in.release()
		return
	}
	missing := 1 // the header is not all in: at least a byte more
	if in.need > 0 {
		missing = in.need - len(rest)
	}
	if in.part != nil && cap(*in.part)-len(rest) >= min(missing, minPartRead) {
		*in.part = (*in.part)[:copy(*in.part, rest)]
		return
	}
	want := min(len(rest)+missing, max(partBufSize, 2*len(rest)))
	var bp *[]byte
	if want <= partBufSize {
		bp = partBufs.Get().(*[]byte)
	} else {
		b := make([]byte, 0, want)
		bp = &b
	}
	*bp = append((*bp)[:0], rest...)
	in.release()
	in.part = bp
}

// minPartRead is the least room worth a read into an incomplete frame's buffer: with less left
// (and more of the frame to come) the buffer grows first.
const minPartRead = 16 << 10

// space is where the next read goes when a frame is incomplete: the free end of its buffer.
func (in *inbox) space() []byte {
	b := *in.part
	return b[len(b):cap(b)]
}

func (in *inbox) release() {
	if in.part != nil {
		if cap(*in.part) == partBufSize {
			*in.part = (*in.part)[:0]
			partBufs.Put(in.part)
		}
		in.part = nil
	}
}
