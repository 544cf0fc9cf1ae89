package serve

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus metrics, in a registry of its own so
// that several servers can live in one process (tests).
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec   // by endpoint and status code
	errors   *prometheus.CounterVec   // requests answered 4xx or 5xx, by endpoint and status code
	latency  *prometheus.HistogramVec // by endpoint
	batch    prometheus.Histogram     // inputs per batch
	forward  prometheus.Histogram     // seconds per batch
	inflight prometheus.Gauge
}

func newMetrics(queueLen func() int) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grcc_requests_total", Help: "HTTP requests answered, by endpoint and status code.",
		}, []string{"endpoint", "code"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grcc_request_errors_total", Help: "HTTP requests answered with a 4xx or 5xx status, by endpoint and status code.",
		}, []string{"endpoint", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "grcc_request_duration_seconds", Help: "Time from a request's arrival to its answer, by endpoint.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16), // 1 ms to 33 s
		}, []string{"endpoint"}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "grcc_batch_size", Help: "Images per Forward (dynamic batching gathers concurrent requests).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128},
		}),
		forward: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "grcc_forward_duration_seconds", Help: "Time of one batched Forward.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "grcc_requests_in_flight", Help: "Requests being handled.",
		}),
	}
	queue := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "grcc_queue_depth", Help: "Requests waiting for a batch.",
	}, func() float64 { return float64(queueLen()) })
	m.registry.MustRegister(m.requests, m.errors, m.latency, m.batch, m.forward, m.inflight, queue,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

func (m *metrics) observeBatch(inputs int, took time.Duration) {
	m.batch.Observe(float64(inputs))
	m.forward.Observe(took.Seconds())
}

// instrument counts and times the requests of one endpoint.
func (m *metrics) instrument(endpoint string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		m.inflight.Inc()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		defer func() {
			m.inflight.Dec()
			code := strconv.Itoa(rec.code)
			m.requests.WithLabelValues(endpoint, code).Inc()
			if rec.code >= 400 {
				m.errors.WithLabelValues(endpoint, code).Inc()
			}
			m.latency.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
		}()
		h(rec, r)
	}
}

// statusRecorder remembers the status code a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	code    int
	written bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.written {
		s.code, s.written = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.written = true
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
