package conformance

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// maxShownFrame bounds how much of one frame a transcript shows; big bodies are elided.
const maxShownFrame = 600

// Transcript records every frame a case sent and received, by connection, with timestamps,
// plus the harness's own notes.
type Transcript struct {
	start time.Time
	mu    sync.Mutex
	lines []transcriptLine
	// raw keeps every frame whole, and each connection's end, when keepRaw is set (the model's
	// replay test reads them).
	keepRaw bool
	raw     []rawFrame
}

// rawFrame is a frame as it crossed the wire ("→" sent, "←" received), "c": the client closes the
// connection, or "x": the connection ended.
type rawFrame struct {
	at     time.Time
	conn   string
	dir    string
	binary bool
	data   []byte
}

func (tr *Transcript) keepsRaw() bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.keepRaw
}

func (tr *Transcript) rawEnd(conn, dir string, at time.Time) {
	tr.mu.Lock()
	if tr.keepRaw {
		tr.raw = append(tr.raw, rawFrame{at: at, conn: conn, dir: dir})
	}
	tr.mu.Unlock()
}

type transcriptLine struct {
	at   time.Time
	conn string
	dir  string // "→" sent, "←" received, "#" note
	id   string // JSON-RPC id of requests and responses
	text string
}

func newTranscript() *Transcript { return &Transcript{start: time.Now()} }

func (tr *Transcript) frame(conn, dir string, binary bool, data []byte, at time.Time) {
	text := string(data)
	if binary {
		text = fmt.Sprintf("<binary %d bytes>", len(data))
	} else if len(text) > maxShownFrame {
		text = text[:maxShownFrame/2] + fmt.Sprintf(" …[%d bytes elided]… ", len(text)-maxShownFrame) + text[len(text)-maxShownFrame/2:]
	}
	line := transcriptLine{at: at, conn: conn, dir: dir, text: text}
	if !binary {
		line.id = frameID(data)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.keepRaw {
		tr.raw = append(tr.raw, rawFrame{at: at, conn: conn, dir: dir, binary: binary, data: append([]byte(nil), data...)})
	}
	// The client reports a sent frame once its write returned, which can be after the response
	// was read: put a request before the response that carries its id.
	if dir == "→" && line.id != "" {
		for i := len(tr.lines) - 1; i >= 0 && i >= len(tr.lines)-64; i-- {
			if l := tr.lines[i]; l.conn == conn && l.dir == "←" && l.id == line.id {
				line.at = l.at
				tr.lines = slices.Insert(tr.lines, i, line)
				return
			}
		}
	}
	tr.lines = append(tr.lines, line)
}

// frameID returns the JSON-RPC id of a frame ("" when absent, 0 or unreadable).
func frameID(data []byte) string {
	var f struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(data, &f) != nil || len(f.ID) == 0 || string(f.ID) == "0" || string(f.ID) == "null" {
		return ""
	}
	return string(f.ID)
}

// noteAt adds a note stamped at (for transcripts recorded elsewhere, such as an exploration's).
func (tr *Transcript) noteAt(at time.Time, text string) {
	tr.mu.Lock()
	tr.lines = append(tr.lines, transcriptLine{at: at, dir: "#", text: text})
	tr.mu.Unlock()
}

func (tr *Transcript) note(format string, args ...any) {
	tr.mu.Lock()
	tr.lines = append(tr.lines, transcriptLine{at: time.Now(), dir: "#", text: fmt.Sprintf(format, args...)})
	tr.mu.Unlock()
}

// String renders the transcript, one frame per line: offset from the case start, connection,
// direction (→ sent by the harness, ← received from the relay) and the frame.
func (tr *Transcript) String() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var b strings.Builder
	for _, l := range tr.lines {
		off := l.at.Sub(tr.start).Seconds()
		if l.dir == "#" {
			fmt.Fprintf(&b, "%+8.3fs    # %s\n", off, l.text)
			continue
		}
		fmt.Fprintf(&b, "%+8.3fs %-3s %s %s\n", off, l.conn, l.dir, l.text)
	}
	return b.String()
}
