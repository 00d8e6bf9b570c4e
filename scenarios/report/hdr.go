package report

import (
	"fmt"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in HDR histograms (HdrHistogram, as wrk2 does): microseconds from
// 1 µs to one hour at 3 significant digits. Histograms of separate processes merge exactly,
// so results.json carries them encoded (the standard compressed V2 form, base64) and
// `mpcrelay report merge` adds them up instead of averaging percentiles.
const (
	hdrLowest  = 1
	hdrHighest = int64(time.Hour / time.Microsecond)
	hdrDigits  = 3
)

// NewHDR returns an empty latency histogram (microseconds).
func NewHDR() *hdrhistogram.Histogram { return hdrhistogram.New(hdrLowest, hdrHighest, hdrDigits) }

// EncodeHDR is the compressed, base64 form of h; "" for nil.
func EncodeHDR(h *hdrhistogram.Histogram) string {
	if h == nil {
		return ""
	}
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return "" // only fails on an internal compression error; the summaries remain
	}
	return string(b)
}

// DecodeHDR reads what EncodeHDR wrote; "" gives an empty histogram.
func DecodeHDR(s string) (*hdrhistogram.Histogram, error) {
	if s == "" {
		return NewHDR(), nil
	}
	h, err := hdrhistogram.Decode([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("decode HDR histogram: %w", err)
	}
	return h, nil
}

// Recorder records durations from many goroutines: it spreads them over shards, each with
// its own lock, and merges them at the end (one histogram per connection would cost 190 KB
// each at 3 digits; one shared histogram would serialise the readers).
type Recorder struct {
	shards []recShard
}

type recShard struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
	_  [40]byte // keep neighbouring locks off one cache line
}

// NewRecorder makes a recorder of n shards.
func NewRecorder(n int) *Recorder {
	r := &Recorder{shards: make([]recShard, max(1, n))}
	for i := range r.shards {
		r.shards[i].h = NewHDR()
	}
	return r
}

// Record adds d to shard i (any int; callers pass something stable per goroutine).
func (r *Recorder) Record(i int, d time.Duration) {
	s := &r.shards[uint(i)%uint(len(r.shards))]
	us := max(int64(d/time.Microsecond), hdrLowest)
	s.mu.Lock()
	_ = s.h.RecordValue(min(us, hdrHighest)) // clamped, so it cannot fail
	s.mu.Unlock()
}

// Merged is the sum of every shard.
func (r *Recorder) Merged() *hdrhistogram.Histogram {
	out := NewHDR()
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		out.Merge(s.h)
		s.mu.Unlock()
	}
	return out
}

// LatencyOf summarises a histogram of microseconds in milliseconds.
func LatencyOf(h *hdrhistogram.Histogram) Latency {
	if h == nil || h.TotalCount() == 0 {
		return Latency{}
	}
	us := func(v int64) float64 { return float64(v) / 1000 }
	return Latency{
		Count: int(h.TotalCount()),
		P50:   us(h.ValueAtQuantile(50)),
		P90:   us(h.ValueAtQuantile(90)),
		P99:   us(h.ValueAtQuantile(99)),
		Max:   us(h.Max()),
		Mean:  h.Mean() / 1000,
	}
}

// HistogramOf buckets a histogram of microseconds for the latency plot (bounds 0.05 ms·2^(k/4),
// as NewHistogram).
func HistogramOf(h *hdrhistogram.Histogram) Histogram {
	var out Histogram
	if h == nil || h.TotalCount() == 0 {
		return out
	}
	top := float64(h.Max()) / 1000
	for bound := 0.05; ; bound *= 1.189207115 {
		out.UpperMS = append(out.UpperMS, bound)
		if bound >= top {
			break
		}
	}
	out.Counts = make([]int, len(out.UpperMS))
	k := 0
	for _, bar := range h.Distribution() {
		if bar.Count == 0 {
			continue
		}
		v := float64(bar.To) / 1000
		for k < len(out.UpperMS)-1 && out.UpperMS[k] < v {
			k++
		}
		out.Counts[k] += int(bar.Count)
	}
	return out
}
