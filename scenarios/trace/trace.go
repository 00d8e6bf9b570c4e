// Package trace is the signed-traffic trace format: JSON lines, one per session header and one
// per Session.message a party sent (§4.7), with its time offset, session, round, sender,
// receiver or broadcast, size and optionally its body. The bench runner writes traces from real
// tss-lib sessions (--record); the replay engine reads them.
//
// A line is either a session header
//
//	{"type":"session","session":"ecdsa-keygen-1","curve":"ecdsa","kind":"keygen","parties":3,"threshold":1,"members":[1,2,3]}
//
// or a message
//
//	{"type":"message","session":"ecdsa-keygen-1","offset_us":1520,"round":1,"sender":2,"receiver":null,"size":1093}
//
// offset_us counts microseconds from the session's start (the sessionSignup/sessionLoad event),
// size is the byte length of the message's compact JSON body, receiver null is a broadcast.
// A session's header comes before its messages.
package trace

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"sync"
	"time"
)

// Line types.
const (
	TypeSession = "session"
	TypeMessage = "message"
)

// Session is a session header.
type Session struct {
	Type      string   `json:"type"`
	ID        string   `json:"session"`
	Curve     string   `json:"curve"`
	Kind      string   `json:"kind"` // keygen or sign (§3.3)
	Parties   int      `json:"parties"`
	Threshold int      `json:"threshold"`
	Members   []uint16 `json:"members"` // party numbers taking part: all n for keygen, t+1 for sign
	// Messages are filled by Read, ordered by offset.
	Messages []Message `json:"-"`
}

// Message is one Session.message as its sender sent it.
type Message struct {
	Type     string          `json:"type"`
	Session  string          `json:"session"`
	OffsetUS int64           `json:"offset_us"`
	Round    uint16          `json:"round"`
	Sender   uint16          `json:"sender"`
	Receiver *uint16         `json:"receiver"`
	Size     int             `json:"size"`
	Body     json.RawMessage `json:"body,omitempty"`
}

// Offset is the message's time offset from the session start.
func (m *Message) Offset() time.Duration { return time.Duration(m.OffsetUS) * time.Microsecond }

// Broadcast reports whether the message goes to every other member (§4.7).
func (m *Message) Broadcast() bool { return m.Receiver == nil }

// Receivers lists the members a message must reach: its receiver, or every member but the sender.
func (s *Session) Receivers(m *Message) []uint16 {
	if m.Receiver != nil {
		return []uint16{*m.Receiver}
	}
	out := make([]uint16, 0, len(s.Members)-1)
	for _, p := range s.Members {
		if p != m.Sender {
			out = append(out, p)
		}
	}
	return out
}

// Trace is a whole trace file.
type Trace struct {
	Sessions []*Session
}

// MaxLine bounds one line: a recorded ECDSA keygen body with its proofs is tens of KiB.
const MaxLine = 16 << 20

// Read parses a trace and checks it: every message names a known session, its sender and
// receiver are members, sizes are not negative.
func Read(r io.Reader) (*Trace, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLine)
	t := &Trace{}
	byID := map[string]*Session{}
	line := 0
	for sc.Scan() {
		line++
		raw := sc.Bytes()
		if len(raw) == 0 {
			continue
		}
		var head struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			return nil, fmt.Errorf("trace line %d: %w", line, err)
		}
		switch head.Type {
		case TypeSession:
			var s Session
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, fmt.Errorf("trace line %d: %w", line, err)
			}
			if err := s.check(); err != nil {
				return nil, fmt.Errorf("trace line %d: %w", line, err)
			}
			if byID[s.ID] != nil {
				return nil, fmt.Errorf("trace line %d: session %q given twice", line, s.ID)
			}
			byID[s.ID] = &s
			t.Sessions = append(t.Sessions, &s)
		case TypeMessage:
			var m Message
			if err := json.Unmarshal(raw, &m); err != nil {
				return nil, fmt.Errorf("trace line %d: %w", line, err)
			}
			s := byID[m.Session]
			if s == nil {
				return nil, fmt.Errorf("trace line %d: message of session %q before its header", line, m.Session)
			}
			if err := s.checkMessage(&m); err != nil {
				return nil, fmt.Errorf("trace line %d: %w", line, err)
			}
			s.Messages = append(s.Messages, m)
		default:
			return nil, fmt.Errorf("trace line %d: unknown type %q: want session or message", line, head.Type)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read trace: %w", err)
	}
	if len(t.Sessions) == 0 {
		return nil, errors.New("trace holds no session")
	}
	for _, s := range t.Sessions {
		if len(s.Messages) == 0 {
			return nil, fmt.Errorf("trace session %q has no messages", s.ID)
		}
		sort.SliceStable(s.Messages, func(i, j int) bool { return s.Messages[i].OffsetUS < s.Messages[j].OffsetUS })
	}
	return t, nil
}

func (s *Session) check() error {
	switch {
	case s.ID == "":
		return errors.New("session header without a session id")
	case s.Kind != "keygen" && s.Kind != "sign":
		return fmt.Errorf("session %q: kind %q: want keygen or sign", s.ID, s.Kind)
	case s.Parties < 2 || s.Threshold < 1 || s.Threshold >= s.Parties:
		return fmt.Errorf("session %q: parties %d, threshold %d: want parties > threshold > 0 (§3.1)", s.ID, s.Parties, s.Threshold)
	case len(s.Members) < 2:
		return fmt.Errorf("session %q: fewer than two members", s.ID)
	}
	for i, p := range s.Members {
		if p == 0 || int(p) > s.Parties {
			return fmt.Errorf("session %q: member %d out of range 1..%d", s.ID, p, s.Parties)
		}
		if slices.Contains(s.Members[:i], p) {
			return fmt.Errorf("session %q: member %d given twice", s.ID, p)
		}
	}
	return nil
}

func (s *Session) checkMessage(m *Message) error {
	if !slices.Contains(s.Members, m.Sender) {
		return fmt.Errorf("session %q: sender %d is not a member", s.ID, m.Sender)
	}
	if m.Receiver != nil && (!slices.Contains(s.Members, *m.Receiver) || *m.Receiver == m.Sender) {
		return fmt.Errorf("session %q: receiver %d is not another member", s.ID, *m.Receiver)
	}
	if m.Size < 0 || m.OffsetUS < 0 {
		return fmt.Errorf("session %q: negative size or offset", s.ID)
	}
	return nil
}

// Writer writes a trace; it is safe for concurrent use (parties of many sessions record at once).
type Writer struct {
	mu   sync.Mutex
	w    *bufio.Writer
	err  error
	seen map[string]bool
}

// NewWriter writes a trace to w; call Flush at the end.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: bufio.NewWriter(w), seen: map[string]bool{}}
}

// Session writes a session header; it must come before the session's messages.
func (w *Writer) Session(s Session) error {
	s.Type = TypeSession
	if err := s.check(); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seen[s.ID] {
		return fmt.Errorf("trace session %q written twice", s.ID)
	}
	w.seen[s.ID] = true
	return w.line(s)
}

// Message writes one message line.
func (w *Writer) Message(m Message) error {
	m.Type = TypeMessage
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.seen[m.Session] {
		return fmt.Errorf("trace message of session %q before its header", m.Session)
	}
	return w.line(m)
}

func (w *Writer) line(v any) error {
	if w.err != nil {
		return w.err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if _, err := w.w.Write(b); err != nil {
		w.err = fmt.Errorf("write trace: %w", err)
	}
	return w.err
}

// Flush writes out what is buffered.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if err := w.w.Flush(); err != nil {
		w.err = fmt.Errorf("write trace: %w", err)
	}
	return w.err
}
