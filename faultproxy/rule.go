package faultproxy

import (
	"slices"
	"time"
)

// Rule acts on the frames it matches. Dir 0 matches both directions; a nil Match matches every
// frame of that direction. Apply calls the frame's effect methods (Drop, Replace, Inject, ...).
type Rule struct {
	Name  string
	Dir   Direction
	Match func(*Frame) bool
	Apply func(*Frame)
	// Control makes the rule see the control frames (Frame.Control: the client's pings, the
	// relay's pongs, the client's leaving) and only those; Drop and Replace act on them.
	Control bool
}

func (r Rule) matches(f *Frame) bool {
	if r.Control != (f.Control != "") {
		return false
	}
	if r.Dir != 0 && r.Dir != f.Dir {
		return false
	}
	return r.Match == nil || r.Match(f)
}

// Event matches relay frames that are the named event ("" = any event).
func Event(name string) func(*Frame) bool {
	return func(f *Frame) bool { return f.Dir == ToClient && f.RPC.IsEvent(name) }
}

// Request matches client requests of method ("" = any method).
func Request(method string) func(*Frame) bool {
	return func(f *Frame) bool { return f.Dir == ToRelay && f.RPC.IsRequest(method) }
}

// ResponseTo matches responses (success or error) to requests of method.
func ResponseTo(method string) func(*Frame) bool {
	return func(f *Frame) bool { return f.Dir == ToClient && f.RPC.IsResponseTo(method) }
}

// ErrorResponse matches error responses with the given code (0 = any code).
func ErrorResponse(code int) func(*Frame) bool {
	return func(f *Frame) bool {
		return f.RPC.Kind == KindResponse && f.RPC.Error != nil && (code == 0 || f.RPC.Error.Code == code)
	}
}

// OnConn matches frames of the given connections (Conn.ID: 1 for the first client, ...).
func OnConn(ids ...int) func(*Frame) bool {
	return func(f *Frame) bool { return slices.Contains(ids, f.Conn.ID) }
}

// All matches when every predicate matches.
func All(preds ...func(*Frame) bool) func(*Frame) bool {
	return func(f *Frame) bool {
		for _, p := range preds {
			if !p(f) {
				return false
			}
		}
		return true
	}
}

// Drop discards the matching frames.
func Drop(name string, dir Direction, match func(*Frame) bool) Rule {
	return Rule{Name: name, Dir: dir, Match: match, Apply: (*Frame).Drop}
}

// Duplicate writes the matching frames twice.
func Duplicate(name string, dir Direction, match func(*Frame) bool) Rule {
	return Rule{Name: name, Dir: dir, Match: match, Apply: (*Frame).Duplicate}
}

// Delay holds the matching frames for d (order within the connection is kept).
func Delay(name string, dir Direction, match func(*Frame) bool, d time.Duration) Rule {
	return Rule{Name: name, Dir: dir, Match: match, Apply: func(f *Frame) { f.Delay(d) }}
}

// Reorder writes each matching frame after the next frame of its connection and direction
// (or after d when none comes).
func Reorder(name string, dir Direction, match func(*Frame) bool, d time.Duration) Rule {
	return Rule{Name: name, Dir: dir, Match: match, Apply: func(f *Frame) { f.Hold(d) }}
}

// Rewrite replaces the data of the matching frames with rewrite(data).
func Rewrite(name string, dir Direction, match func(*Frame) bool, rewrite func([]byte) []byte) Rule {
	return Rule{Name: name, Dir: dir, Match: match, Apply: func(f *Frame) { f.Replace(rewrite(f.Data)) }}
}
