package redisadapter

import "github.com/prometheus/client_golang/prometheus"

// Collector exports the Peer's Stats as Prometheus metrics named
// <namespace>_redis_up, _redis_published_total, _redis_publish_errors_total,
// _redis_dropped_total, _redis_received_total, _redis_bad_messages_total
// and _redis_reconnects_total. The caller registers it (no global registry
// is touched).
func (p *Peer) Collector(namespace string) prometheus.Collector {
	return &collector{p: p, descs: map[string]*prometheus.Desc{
		"up":             prometheus.NewDesc(namespace+"_redis_up", "1 while the Redis subscriber connection is established.", nil, nil),
		"published":      prometheus.NewDesc(namespace+"_redis_published_total", "Messages published to Redis.", nil, nil),
		"publish_errors": prometheus.NewDesc(namespace+"_redis_publish_errors_total", "Messages Redis refused or lost with the connection.", nil, nil),
		"dropped":        prometheus.NewDesc(namespace+"_redis_dropped_total", "Messages not published: queue full, volatile while down, or closed.", nil, nil),
		"received":       prometheus.NewDesc(namespace+"_redis_received_total", "Messages received from Redis.", nil, nil),
		"bad":            prometheus.NewDesc(namespace+"_redis_bad_messages_total", "Messages from Redis dropped as malformed, too large or of another namespace.", nil, nil),
		"reconnects":     prometheus.NewDesc(namespace+"_redis_reconnects_total", "Times the subscriber connection was re-established.", nil, nil),
	}}
}

type collector struct {
	p     *Peer
	descs map[string]*prometheus.Desc
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.p.Stats()
	up := 0.0
	if s.Up {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(c.descs["up"], prometheus.GaugeValue, up)
	for key, v := range map[string]uint64{"published": s.Published, "publish_errors": s.PublishErrors, "dropped": s.Dropped,
		"received": s.Received, "bad": s.BadMessages, "reconnects": s.Reconnects} {
		ch <- prometheus.MustNewConstMetric(c.descs[key], prometheus.CounterValue, float64(v))
	}
}
