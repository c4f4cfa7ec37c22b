package primary

import "github.com/prometheus/client_golang/prometheus"

// fleetMetrics are the metrics of relays between hosts (Options.Fleet),
// by target host.
type fleetMetrics struct {
	relays  *prometheus.CounterVec // host, outcome
	bytes   *prometheus.CounterVec // host, direction
	active  *prometheus.GaugeVec   // host
	inbound *prometheus.CounterVec // result
}

func newFleetMetrics(reg *prometheus.Registry) *fleetMetrics {
	m := &fleetMetrics{
		relays: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stickyd_fleet_relays_total",
			Help: "Connections whose sid names another host, by that host and outcome: relayed (spliced there), failed (host gone or unreachable: answered 400, or a give-back that failed), gave_back (a relayed-in connection given back to the host that relayed it), error (a relay that ended on an error).",
		}, []string{"host", "outcome"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stickyd_fleet_relay_bytes_total",
			Help: "Bytes spliced by relays to other hosts, by host and direction (to_host, to_client).",
		}, []string{"host", "direction"}),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "stickyd_fleet_relays_active",
			Help: "Connections relayed to another host now, by host.",
		}, []string{"host"}),
		inbound: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stickyd_fleet_inbound_total",
			Help: "Connections from other hosts by result: relayed (a member's relay, routed here), give_back, give_back_unknown (for a relay no longer here), refused (a PROXY v2 header not from a live member: closed).",
		}, []string{"result"}),
	}
	reg.MustRegister(m.relays, m.bytes, m.active, m.inbound)
	return m
}

// relayCounters are one relay's series, resolved once; the zero value
// (no metrics) counts nothing.
type relayCounters struct {
	m                             *fleetMetrics
	host                          string
	upBytes, downBytes            prometheus.Counter
	relayed, failedN, gaveN, errN prometheus.Counter
	active                        prometheus.Gauge
}

// fleetRelayCounters returns the series of relays to host.
func (m *Metrics) fleetRelayCounters(host uint16) relayCounters {
	if m == nil {
		return relayCounters{}
	}
	f, h := m.fleet, hostLabel(host)
	return relayCounters{
		m: f, host: h,
		upBytes:   f.bytes.WithLabelValues(h, "to_host"),
		downBytes: f.bytes.WithLabelValues(h, "to_client"),
		relayed:   f.relays.WithLabelValues(h, "relayed"),
		failedN:   f.relays.WithLabelValues(h, "failed"),
		gaveN:     f.relays.WithLabelValues(h, "gave_back"),
		errN:      f.relays.WithLabelValues(h, "error"),
		active:    f.active.WithLabelValues(h),
	}
}

func (c relayCounters) up(n int) {
	if c.m != nil {
		c.upBytes.Add(float64(n))
	}
}

func (c relayCounters) down(n int) {
	if c.m != nil {
		c.downBytes.Add(float64(n))
	}
}

func (c relayCounters) started() {
	if c.m != nil {
		c.relayed.Inc()
		c.active.Inc()
	}
}

func (c relayCounters) ended() {
	if c.m != nil {
		c.active.Dec()
	}
}

func (c relayCounters) failed() {
	if c.m != nil {
		c.failedN.Inc()
	}
}

func (c relayCounters) gaveBack() {
	if c.m != nil {
		c.gaveN.Inc()
	}
}

func (c relayCounters) errored() {
	if c.m != nil {
		c.errN.Inc()
	}
}

// fleetInbound counts a connection from another host by result.
func (m *Metrics) fleetInbound(result string) {
	if m != nil {
		m.fleet.inbound.WithLabelValues(result).Inc()
	}
}
