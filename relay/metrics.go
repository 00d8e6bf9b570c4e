package relay

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"mpcrelay/relay/protocol"
)

// Labels for frames that carry no method: bounded so that clients cannot grow the label set.
const (
	labelUnknown = "unknown" // a method the relay does not serve
	labelInvalid = "invalid" // not JSON or not a request (§1.4)
	labelBinary  = "binary"  // ignored binary frames (§1.2)
)

// outKind classifies an outbound frame for the frames/bytes-out metrics.
type outKind uint8

const (
	outResponse outKind = iota
	outError
	outEventBase // + index in protocol.Events
)

func outEvent(name string) outKind {
	for i, e := range protocol.Events {
		if e == name {
			return outEventBase + outKind(i)
		}
	}
	return outResponse
}

func outLabel(k outKind) string {
	switch k {
	case outResponse:
		return "response"
	case outError:
		return "error"
	}
	return protocol.Events[k-outEventBase]
}

// metrics of one Server, on its own registry so several relays can run in one process.
type metrics struct {
	registry *prometheus.Registry

	connections      prometheus.Gauge
	connectionsTotal prometheus.Counter
	groups           prometheus.Gauge
	sessions         prometheus.Gauge
	slowDisconnects  prometheus.Counter
	panics           prometheus.Counter
	expired          *prometheus.CounterVec

	framesIn, bytesIn *prometheus.CounterVec
	errors            *prometheus.CounterVec

	// Resolved once so the hot path does no label lookups.
	framesOut, bytesOut []prometheus.Counter
	inByMethod          map[string][2]prometheus.Counter
	errByCode           map[int]prometheus.Counter
}

func newMetrics() *metrics {
	const ns = "mpcrelay"
	m := &metrics{registry: prometheus.NewRegistry()}
	m.connections = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "connections", Help: "Open WebSocket connections."})
	m.connectionsTotal = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "connections_total", Help: "WebSocket connections accepted."})
	m.groups = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "groups", Help: "Groups held."})
	m.sessions = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "sessions", Help: "Sessions held."})
	m.slowDisconnects = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "slow_client_disconnects_total", Help: "Connections dropped as slow clients: a write did not complete within the write wait, or their send queue reached its bound."})
	m.panics = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "request_panics_total", Help: "Requests whose handler panicked (answered -32603)."})
	m.expired = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "expired_total", Help: "Groups and sessions deleted after idle expiry."}, []string{"kind"})
	m.framesIn = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "frames_in_total", Help: "Frames received, by method."}, []string{"method"})
	m.bytesIn = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "bytes_in_total", Help: "Bytes received, by method."}, []string{"method"})
	framesOut := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "frames_out_total", Help: "Frames written, by kind (response, error or event name)."}, []string{"kind"})
	bytesOut := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "bytes_out_total", Help: "Bytes written, by kind (response, error or event name)."}, []string{"kind"})
	m.errors = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "errors_total", Help: "Error responses, by JSON-RPC code."}, []string{"code"})

	m.registry.MustRegister(m.connections, m.connectionsTotal, m.groups, m.sessions, m.slowDisconnects,
		m.panics, m.expired, m.framesIn, m.bytesIn, framesOut, bytesOut, m.errors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	n := int(outEventBase) + len(protocol.Events)
	m.framesOut = make([]prometheus.Counter, n)
	m.bytesOut = make([]prometheus.Counter, n)
	for k := range n {
		m.framesOut[k] = framesOut.WithLabelValues(outLabel(outKind(k)))
		m.bytesOut[k] = bytesOut.WithLabelValues(outLabel(outKind(k)))
	}
	m.inByMethod = make(map[string][2]prometheus.Counter)
	for _, name := range append(append([]string(nil), protocol.Methods...), labelUnknown, labelInvalid, labelBinary) {
		m.inByMethod[name] = [2]prometheus.Counter{m.framesIn.WithLabelValues(name), m.bytesIn.WithLabelValues(name)}
	}
	m.errByCode = make(map[int]prometheus.Counter)
	for _, code := range []int{protocol.CodeParseError, protocol.CodeInvalidRequest, protocol.CodeMethodNotFound, protocol.CodeInvalidParams, protocol.CodeInternal} {
		m.errByCode[code] = m.errors.WithLabelValues(strconv.Itoa(code))
	}
	m.expired.WithLabelValues("group")
	m.expired.WithLabelValues("session")
	return m
}

// frameIn counts one received frame under a bounded method label.
func (m *metrics) frameIn(method string, n int) {
	c, ok := m.inByMethod[method]
	if !ok {
		c = m.inByMethod[labelUnknown]
	}
	c[0].Inc()
	c[1].Add(float64(n))
}

func (m *metrics) frameOut(k outKind, n int) {
	m.framesOut[k].Inc()
	m.bytesOut[k].Add(float64(n))
}

func (m *metrics) errorSent(code int) {
	if c, ok := m.errByCode[code]; ok {
		c.Inc()
		return
	}
	m.errors.WithLabelValues(strconv.Itoa(code)).Inc()
}
