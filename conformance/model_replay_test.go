package conformance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"mpcrelay/conformance/breakage"
	"mpcrelay/conformance/model"
	"mpcrelay/faultproxy"
)

// notReplayable are hand-written cases whose transcripts the model cannot judge, and why.
var notReplayable = map[string]string{
	"6.2/garbage-does-not-disturb-others":      "sends a 24 MiB frame: a relay's frame limit (§4.7 asks only for at least 1 MiB) is not part of the model",
	"6.2/stalled-reader-does-not-block-others": "a connection that stops reading is dropped by the relay's flow control, which the model does not know",
	"1.3/stream-order-under-volume":            "several connections send at once: the order in which the relay took their requests is not on the wire, and the replay feeds the model one order",
}

// concurrentNotReplayable is why no case labelled "concurrency" is replayed: its connections
// send at once, as in 1.3/stream-order-under-volume.
const concurrentNotReplayable = "several connections send at once (label concurrency): the order in which the relay took their requests is not on the wire"

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
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			inst := startReference(t, compat)
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
				if slices.Contains(c.Labels, "concurrency") {
					t.Logf("%s: not replayed: %s", c.ID, concurrentNotReplayable)
					continue
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					sem <- struct{}{}
					defer func() { <-sem }()
					ct := newT(ctx, Target{URL: inst.URL()}, cfg, c)
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

// overdue is how long after its request a frame the model predicts may still come; a case that
// goes on longer without it (it waited and timed out) shows it missing.
const overdue = 500 * time.Millisecond

// replayThroughModel feeds a recorded case to a fresh model, in the order the frames crossed the
// wire (each connection's own order is exact; across connections the stamps order them). The
// model must admit every frame received, every close by the relay, and see every frame it
// predicts arrive unless the client closed the connection within overdue of the request.
func replayThroughModel(tr *Transcript) error {
	tr.mu.Lock()
	raw := slices.Clone(tr.raw)
	tr.mu.Unlock()
	slices.SortStableFunc(raw, func(a, b rawFrame) int { return a.at.Compare(b.at) })
	m := model.New(model.Options{CloseGrace: 2 * time.Second})
	ids := map[string]model.Conn{}
	closedByClient := map[string]bool{}
	since := map[model.Conn]time.Time{} // since when a connection has waited for a predicted frame
	conn := func(name string) model.Conn {
		if _, ok := ids[name]; !ok {
			ids[name] = model.Conn(len(ids) + 1)
			m.Open(ids[name])
		}
		return ids[name]
	}
	track := func(at time.Time) {
		settled, waiting := m.Outstanding()
		for c := range since {
			if settled || !slices.Contains(waiting, c) {
				delete(since, c)
			}
		}
		if !settled {
			for _, c := range waiting {
				if _, ok := since[c]; !ok {
					since[c] = at
				}
			}
		}
	}
	missing := func(c model.Conn, at time.Time, i int) error {
		if s, ok := since[c]; ok && at.Sub(s) >= overdue {
			return describeReplay(&model.Mismatch{Conn: c, Expected: m.Missing(), Actual: fmt.Sprintf("nothing within %s", at.Sub(s).Round(time.Millisecond))}, raw, i)
		}
		return nil
	}
	for i, f := range raw {
		c := conn(f.conn)
		switch f.dir {
		case "→":
			m.Send(c, f.data, f.binary, f.at)
		case "←":
			if closedByClient[f.conn] {
				continue // after the client closed it, a frame still in flight is not judged
			}
			if err := m.Receive(c, model.Frame{Data: f.data, Binary: f.binary}); err != nil {
				return describeReplay(err, raw, i)
			}
		case "c":
			if err := missing(c, f.at, i); err != nil {
				return err
			}
			closedByClient[f.conn] = true
			m.Close(c, f.at)
		case "x":
			if closedByClient[f.conn] {
				continue
			}
			if err := m.Receive(c, model.Frame{Closed: true}); err != nil {
				return describeReplay(err, raw, i)
			}
		}
		track(f.at)
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

// TestModelRejectsWhatCasesReject replays the transcripts of broken relays: whenever a
// hand-written case fails against a breakage (the relay's frames broke a MUST), the model must
// refuse that transcript too. It runs a handful of breakages in every test run;
// MPCRELAY_MODEL_ALL_BREAKAGES=1 runs all of them.
func TestModelRejectsWhatCasesReject(t *testing.T) {
	sample := map[string]bool{"signup-event-twice": true, "broadcast-leaked": true, "finish-for-another-accepted": true,
		"event-before-response": true, "join-drops-session-value": true}
	all := os.Getenv("MPCRELAY_MODEL_ALL_BREAKAGES") != ""
	cases, err := Select("!crypto && !explore && !slow", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	inst := startReference(t, false)
	cfg := Config{Timeout: time.Second * time.Duration(raceSlowdown), QuietWindow: 100 * time.Millisecond}
	var mu sync.Mutex
	pairs, agreed := 0, 0
	var lines []string
	for _, b := range breakage.All {
		if !all && !sample[b.Name] {
			continue
		}
		p, err := faultproxy.Start(inst.URL(), faultproxy.Options{}, b.Rules()...)
		if err != nil {
			t.Fatal(err)
		}
		var caught []string
		sem := make(chan struct{}, 16)
		var wg sync.WaitGroup
		for _, c := range cases {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				ct := newT(ctx, Target{URL: p.URL()}, cfg, c)
				ct.tr.keepRaw = true
				if outcome, _ := ct.run(); outcome != Fail {
					return
				}
				time.Sleep(50 * time.Millisecond)
				err := replayThroughModel(ct.tr)
				mu.Lock()
				defer mu.Unlock()
				pairs++
				caught = append(caught, c.ID)
				if err != nil {
					agreed++
				} else {
					t.Errorf("%s fails against %s, but the model admits its transcript:\n%s", c.ID, b.Name, ct.tr.String())
				}
			}()
		}
		wg.Wait()
		p.Close()
		sort.Strings(caught)
		lines = append(lines, fmt.Sprintf("%-28s %s", b.Name, strings.Join(caught, " ")))
	}
	t.Logf("the model refuses %d of the %d transcripts where a case failed against a breakage:\n%s", agreed, pairs, strings.Join(lines, "\n"))
}
