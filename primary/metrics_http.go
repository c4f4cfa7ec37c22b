package primary

import (
	"io"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler returns the HTTP handler of the metrics endpoint:
//
//	GET /metrics  Prometheus text (or protobuf, by content negotiation)
//	GET /healthz  200 "ok" while the Supervisor runs, else 503
//	GET /readyz   200 "ready" when at least one worker of the current
//	              generation is ready, else 503 "not ready"
//
// Other paths get 404. m must not be nil.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	// promhttp_metric_handler_* (scrapes, errors) go to the same registry.
	mux.Handle("GET /metrics", promhttp.InstrumentMetricHandler(m.reg, promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry:          m.reg,
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
	})))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !m.Healthy() {
			plain(w, http.StatusServiceUnavailable, "not running\n")
			return
		}
		plain(w, http.StatusOK, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !m.Ready() {
			plain(w, http.StatusServiceUnavailable, "not ready\n")
			return
		}
		plain(w, http.StatusOK, "ready\n")
	})
	return mux
}

// Healthy reports whether the attached Supervisor is running (Run called
// and shutdown not begun); false for a nil Metrics.
func (m *Metrics) Healthy() bool {
	if m == nil {
		return false
	}
	src := m.source.Load()
	return src != nil && src.running()
}

// Ready reports whether the attached Supervisor is running and at least
// one worker of its current generation is ready. It takes the routing
// lock briefly.
func (m *Metrics) Ready() bool {
	if !m.Healthy() {
		return false
	}
	st := m.source.Load().status()
	return statusReady(&st)
}

func plain(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	io.WriteString(w, body)
}
