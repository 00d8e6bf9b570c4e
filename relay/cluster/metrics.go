package cluster

import "github.com/prometheus/client_golang/prometheus"

// metrics are the cross-node counters of one node, registered beside the relay's own.
type metrics struct {
	forwarded      *prometheus.CounterVec // requests sent to an owner, by outcome
	forwardSeconds prometheus.Histogram   // forward → done, as the caller's read pump waits for it
	served         prometheus.Counter     // requests of other nodes' connections run here
	queued         prometheus.Gauge       // requests of other nodes' connections received, not yet run
	eventMsgsOut   prometheus.Counter
	eventBytesOut  prometheus.Counter
	eventMsgsIn    prometheus.Counter
	eventFramesIn  prometheus.Counter // frames handed to local connections (one per receiver)
	peers          prometheus.Gauge
	nodesLost      *prometheus.CounterVec // by reason: dead, restarted, left
	linkUp         prometheus.Gauge
	linkLost       prometheus.Counter
	lateReplies    prometheus.Counter
	framesMissed   prometheus.Counter // receivers told they missed a frame larger than max_payload
	givenUp        prometheus.Gauge   // requests given up on, kept for their done (givenup.go)
	dropped        prometheus.Counter // messages NATS dropped here: the node could not keep up (drops.go)
}

// Outcomes of a forwarded request (label values).
const (
	outcomeOK          = "ok"
	outcomeNoOwner     = "no_owner"
	outcomeOwnerLost   = "owner_lost"
	outcomeLinkDown    = "link_down"
	outcomeTimeout     = "timeout"
	outcomeUnreachable = "owner_unreachable"
	outcomeTooLarge    = "too_large"
	outcomeBacklog     = "backlog"
)

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		forwarded: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mpcrelay_cluster_requests_forwarded_total",
			Help: "Requests of this node's connections sent to the node owning their group, by outcome."}, []string{"outcome"}),
		forwardSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "mpcrelay_cluster_forward_seconds",
			Help:    "Time from forwarding a request to the owner's done (response and events delivered here).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12)}),
		served: prometheus.NewCounter(prometheus.CounterOpts{Name: "mpcrelay_cluster_requests_served_total",
			Help: "Requests of other nodes' connections run by this node, the owner of their group."}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{Name: "mpcrelay_cluster_requests_queued",
			Help: "Requests of other nodes' connections received by this node and not yet run (waiting behind their connection's earlier requests, or running)."}),
		eventMsgsOut: prometheus.NewCounter(prometheus.CounterOpts{Name: "mpcrelay_cluster_event_messages_out_total",
			Help: "Event messages published to other nodes (one per frame and receiving node)."}),
		eventBytesOut: prometheus.NewCounter(prometheus.CounterOpts{Name: "mpcrelay_cluster_event_bytes_out_total",
			Help: "Bytes of event messages published to other nodes."}),
		eventMsgsIn: prometheus.NewCounter(prometheus.CounterOpts{Name: "mpcrelay_cluster_event_messages_in_total",
			Help: "Event messages received from other nodes."}),
		eventFramesIn: prometheus.NewCounter(prometheus.CounterOpts{Name: "mpcrelay_cluster_event_frames_in_total",
			Help: "Frames from other nodes handed to this node's connections (one per receiver)."}),
		peers: prometheus.NewGauge(prometheus.GaugeOpts{Name: "mpcrelay_cluster_peer_nodes",
			Help: "Other relay nodes of the cluster heard from within the dead-after bound."}),
		nodesLost: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mpcrelay_cluster_nodes_lost_total",
			Help: "Other nodes given up: dead (no heartbeat), restarted (new link epoch), left (shut down)."}, []string{"reason"}),
		linkUp: prometheus.NewGauge(prometheus.GaugeOpts{Name: "mpcrelay_cluster_nats_connected",
			Help: "1 while this node is connected to NATS."}),
		linkLost: prometheus.NewCounter(prometheus.CounterOpts{Name: "mpcrelay_cluster_link_lost_total",
			Help: "Times this node lost its NATS link (or was declared dead) and dropped its cross-node memberships."}),
		lateReplies: prometheus.NewCounter(prometheus.CounterOpts{Name: "mpcrelay_cluster_late_replies_total",
			Help: "Owner replies that came after their request had timed out (dropped)."}),
		framesMissed: prometheus.NewCounter(prometheus.CounterOpts{Name: "mpcrelay_cluster_frames_missed_total",
			Help: "Receivers on other nodes of a frame larger than NATS's max_payload (their node closes them)."}),
		givenUp: prometheus.NewGauge(prometheus.GaugeOpts{Name: "mpcrelay_cluster_requests_given_up",
			Help: "Requests of this node's connections that timed out and are kept until their owner's done comes (bounded per connection and owner)."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "mpcrelay_cluster_messages_dropped_total",
			Help: "Messages from other nodes that NATS dropped at this node, past its subscriptions' pending limits (it could not keep up); dropped requests, events or replies end its link's incarnation."}),
	}
	for _, o := range []string{outcomeOK, outcomeNoOwner, outcomeOwnerLost, outcomeLinkDown, outcomeTimeout, outcomeUnreachable, outcomeTooLarge, outcomeBacklog} {
		m.forwarded.WithLabelValues(o)
	}
	for _, r := range []string{lostDead, lostRestarted, lostLeft} {
		m.nodesLost.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.forwarded, m.forwardSeconds, m.served, m.queued, m.eventMsgsOut, m.eventBytesOut, m.eventMsgsIn,
			m.eventFramesIn, m.peers, m.nodesLost, m.linkUp, m.linkLost, m.lateReplies, m.framesMissed, m.givenUp, m.dropped)
	}
	return m
}
