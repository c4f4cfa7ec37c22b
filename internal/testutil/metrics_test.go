package testutil

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// TestMetricReaders: Scrape and Gather see the same series; MetricValue
// takes the first series with the labels (a histogram's count), Metric
// gives -1 for a missing one, MetricSum adds every match; a scrape of a
// page that is not an exposition, or not 200, fails the test.
func TestMetricReaders(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "t_total", Help: "h"}, []string{"kind", "slot"})
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "t_seconds", Help: "h"})
	reg.MustRegister(c, h)
	c.WithLabelValues("a", "1").Add(2)
	c.WithLabelValues("a", "2").Add(3)
	c.WithLabelValues("b", "1").Add(5)
	h.Observe(1)
	h.Observe(2)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()

	for name, fams := range map[string]map[string]*dto.MetricFamily{
		"Scrape": Scrape(t, srv.URL),
		"Gather": Gather(t, reg),
	} {
		if v, ok := MetricValue(fams, "t_total", "kind", "b"); !ok || v != 5 {
			t.Errorf("%s: MetricValue kind=b = %v, %v; want 5, true", name, v, ok)
		}
		if v, ok := MetricValue(fams, "t_total", "kind", "c"); ok {
			t.Errorf("%s: MetricValue of a missing series = %v, true", name, v)
		}
		if got := Metric(fams, "t_total", "kind", "c"); got != -1 {
			t.Errorf("%s: Metric of a missing series = %v, want -1", name, got)
		}
		if got := Metric(fams, "t_seconds"); got != 2 {
			t.Errorf("%s: histogram count %v, want 2", name, got)
		}
		if got := MetricSum(fams, "t_total", "kind", "a"); got != 5 {
			t.Errorf("%s: MetricSum kind=a = %v, want 5", name, got)
		}
		if got := MetricSum(fams, "t_total"); got != 10 {
			t.Errorf("%s: MetricSum of all = %v, want 10", name, got)
		}
		if got := MetricSum(fams, "t_total", "kind", "a", "slot", "2"); got != 3 {
			t.Errorf("%s: MetricSum kind=a slot=2 = %v, want 3", name, got)
		}
	}

	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("not { an exposition\n"))
	}))
	defer bad.Close()
	for path, want := range map[string]string{"/missing": "status 404", "/garbage": "does not parse"} {
		r := newRecorder(t)
		if msg := r.run(func(tb testing.TB) { Scrape(tb, bad.URL+path) }); !strings.Contains(msg, want) {
			t.Errorf("Scrape of %s failed with %q, want %q", path, msg, want)
		}
	}
	if got := HTTPStatus(t, bad.URL+"/missing"); got != 404 {
		t.Errorf("HTTPStatus = %d, want 404", got)
	}
}
