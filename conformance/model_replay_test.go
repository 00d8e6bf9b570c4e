package conformance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"mpcrelay/conformance/model"
)

// notReplayable are hand-written cases whose transcripts the model cannot judge, and why.
var notReplayable = map[string]string{
	"6.2/garbage-does-not-disturb-others":      "sends a 24 MiB frame: a relay's frame limit (§4.7 asks only for at least 1 MiB) is not part of the model",
	"6.2/stalled-reader-does-not-block-others": "a connection that stops reading is dropped by the relay's flow control, which the model does not know",
}

// TestModelPredictsHandWrittenCases is the model's own test: every hand-written case (but the crypto
// ones, whose simulated parties share one recording) runs against the reference relay, strict and
// compat, with every frame recorded whole; the transcript is then fed to a fresh model — requests
// and closes as the client's, frames received as the relay's — and the model must admit every
// frame the relay sent, i.e. predict the outcome the case saw and passed.
func TestModelPredictsHandWrittenCases(t *testing.T) {
	cases, err := Select("!crypto && !explore", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, compat := range []bool{false, true} {
		name := map[bool]string{false: "strict", true: "compat"}[compat]
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			inst, err := StartEmbedded(ctx, compat)
			if err != nil {
				t.Fatal(err)
			}
			defer inst.Shutdown(context.Background())
			cfg := Config{Timeout: DefaultTimeout * raceSlowdown, QuietWindow: 100 * time.Millisecond}
			var mu sync.Mutex
			var judged []string
			sem := make(chan struct{}, 8)
			var wg sync.WaitGroup
			for _, c := range cases {
				if why, skip := notReplayable[c.ID]; skip {
					t.Logf("%s: not replayed: %s", c.ID, why)
					continue
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					sem <- struct{}{}
					defer func() { <-sem }()
					ct := newT(ctx, inst.URL(), cfg, c)
					ct.tr.keepRaw = true
					outcome, detail := ct.run()
					if outcome == Fail || outcome == Error {
						t.Errorf("%s: the case itself ended %s against the reference relay: %s", c.ID, outcome, detail)
						return
					}
					time.Sleep(50 * time.Millisecond) // the last connections' ends
					if err := replayThroughModel(ct.tr); err != nil {
						t.Errorf("%s (%s): %v\ntranscript:\n%s", c.ID, outcome, err, ct.tr.String())
						return
					}
					mu.Lock()
					judged = append(judged, c.ID)
					mu.Unlock()
				}()
			}
			wg.Wait()
			t.Logf("%s: the model admits every frame of %d hand-written cases", name, len(judged))
		})
	}
}

// replayThroughModel feeds a recorded case to a fresh model, in the order the frames crossed the
// wire (each connection's own order is exact; across connections the stamps order them).
func replayThroughModel(tr *Transcript) error {
	tr.mu.Lock()
	raw := slices.Clone(tr.raw)
	tr.mu.Unlock()
	slices.SortStableFunc(raw, func(a, b rawFrame) int { return a.at.Compare(b.at) })
	m := model.New(model.Options{CloseGrace: 2 * time.Second})
	ids := map[string]model.Conn{}
	ended := map[string]bool{}
	conn := func(name string) model.Conn {
		if _, ok := ids[name]; !ok {
			ids[name] = model.Conn(len(ids) + 1)
			m.Open(ids[name])
		}
		return ids[name]
	}
	for i, f := range raw {
		c := conn(f.conn)
		switch f.dir {
		case "→":
			m.Send(c, f.data, f.binary, f.at)
		case "←":
			if err := m.Receive(c, model.Frame{Data: f.data, Binary: f.binary}); err != nil {
				return describeReplay(err, raw, i)
			}
		case "x":
			if ended[f.conn] {
				continue
			}
			ended[f.conn] = true
			// the relay's close the model expects (§2.5), or else the client's own close
			if err := m.Receive(c, model.Frame{Closed: true}); err != nil {
				m.Close(c, f.at)
			}
		}
	}
	return nil
}

func describeReplay(err error, raw []rawFrame, at int) error {
	var mm *model.Mismatch
	if !errors.As(err, &mm) {
		return err
	}
	var b strings.Builder
	for _, f := range raw[:at+1] {
		text := string(f.data)
		if len(text) > 200 {
			text = text[:200] + "…"
		}
		fmt.Fprintf(&b, "  %s %s %s\n", f.conn, f.dir, text)
	}
	return fmt.Errorf("the model does not admit frame %d:\n%v\nfed so far:\n%s", at+1, mm, b.String())
}
