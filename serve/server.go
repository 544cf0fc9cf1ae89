// Package serve is grcc's inference server: a model behind the Open
// Inference Protocol (v2) REST API, with dynamic batching, bounded queues,
// Prometheus metrics and graceful shutdown.
//
// It takes a Model (the engine's model satisfies it, so grcc serve can load
// any spec at run time) and gives an http.Handler:
//
//	GET  /v2/health/live, /v2/health/ready    liveness, readiness
//	GET  /v2                                  server metadata
//	GET  /v2/models/{name}                    model metadata: inputs, outputs, shapes, datatypes
//	GET  /v2/models/{name}/ready              model readiness
//	POST /v2/models/{name}/infer              FP32 [N, C, H, W] in, logits [N, classes] out
//	POST /v2/models/{name}/classify?top=K     an image file in, the top K classes out
//	GET  /metrics                             Prometheus text format
//
// The model paths also answer under /v2/models/{name}/versions/1/.
//
// Concurrent infer and classify requests go through a Batcher, which runs
// them as one Forward. Errors are JSON, {"error": "..."}, as the protocol
// says, with a message that names what was wrong.
package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/grcc/grcc/runtime"
)

// Model is what the server runs. Forward must be safe for concurrent use
// when Config.Workers > 1.
type Model interface {
	Name() string
	InputShape() (c, h, w int) // of one image
	NumClasses() int
	Forward(in, out []float32) error // n images in, n×NumClasses logits out
}

// Classifier is the image side of /classify: it turns an image file into
// the model's input and names the classes. It is the seam for the spec's
// preprocessing (decode, resize, crop, normalise); a server without one
// answers /classify with 501.
type Classifier struct {
	// Preprocess decodes one image file and returns the model's input for
	// it: C×H×W floats. Its errors are the client's fault (400).
	Preprocess func(r io.Reader) ([]float32, error)
	// Labels names the classes by index; nil or short means classes are
	// answered by number only.
	Labels []string
}

// Config holds the server's limits; zero fields take the defaults.
type Config struct {
	MaxBatch   int           // images per Forward, and per request (default 8)
	BatchDelay time.Duration // how long a batch waits for more requests (default 2ms; negative: none)
	Queue      int           // requests waiting for a batch (default 64); beyond it 503
	Workers    int           // Forwards at once (default 1)
	MaxBody    int64         // bytes of a request body (default: what MaxBatch images take as JSON, and at least 16 MiB)
	Timeout    time.Duration // per request, from arrival to answer (default 30s)

	ReadTimeout  time.Duration // net/http's, for the whole request (default 60s)
	WriteTimeout time.Duration // net/http's (default Timeout + 30s)
	IdleTimeout  time.Duration // net/http's, between requests on a connection (default 120s)

	Classifier *Classifier // nil: /classify answers 501
	Logf       func(format string, args ...any)
}

func (c Config) withDefaults(inLen int) Config {
	if c.MaxBatch <= 0 {
		c.MaxBatch = 8
	}
	switch {
	case c.BatchDelay == 0:
		c.BatchDelay = 2 * time.Millisecond
	case c.BatchDelay < 0:
		c.BatchDelay = 0
	}
	if c.Queue <= 0 {
		c.Queue = 64
	}
	if c.Workers <= 0 {
		c.Workers = 1
	}
	if c.MaxBody <= 0 {
		// About 16 bytes of JSON per float, and room for the envelope.
		c.MaxBody = max(int64(c.MaxBatch)*int64(inLen)*16+1<<20, 16<<20)
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = 60 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = c.Timeout + 30*time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 120 * time.Second
	}
	if c.Logf == nil {
		c.Logf = log.Printf
	}
	return c
}

// Server serves one model.
type Server struct {
	model          Model
	cfg            Config
	c, h, w        int
	inLen, classes int
	batcher        *Batcher
	metrics        *metrics
	mux            *http.ServeMux
	ready          atomic.Bool
}

// Names of the model's tensors in the protocol.
const (
	inputName  = "input"
	outputName = "logits"
)

// New returns a server for m; it starts the batcher's workers. Call Close
// (or use Serve) to stop them.
func New(m Model, cfg Config) *Server {
	s := &Server{model: m}
	s.c, s.h, s.w = m.InputShape()
	s.inLen, s.classes = s.c*s.h*s.w, m.NumClasses()
	s.cfg = cfg.withDefaults(s.inLen)
	s.batcher = NewBatcher(m.Forward, s.inLen, s.classes, BatcherConfig{
		MaxBatch: s.cfg.MaxBatch, Delay: s.cfg.BatchDelay, Queue: s.cfg.Queue, Workers: s.cfg.Workers})
	s.metrics = newMetrics(s.batcher.QueueLen)
	s.batcher.OnBatch = func(inputs, _ int, took time.Duration, err error) {
		s.metrics.observeBatch(inputs, took)
		if err != nil {
			s.cfg.Logf("serve: batch of %d images failed: %v", inputs, err)
		}
	}
	mux := http.NewServeMux()
	handle := func(pattern, endpoint string, h http.HandlerFunc) {
		mux.Handle(pattern, s.metrics.instrument(endpoint, recoverJSON(h)))
	}
	handle("GET /v2/health/live", "live", s.live)
	handle("GET /v2/health/ready", "ready", s.serverReady)
	handle("GET /v2", "server_metadata", s.serverMetadata)
	// The protocol's model paths, also under /versions/{version}: the
	// server has one version, "1".
	for _, prefix := range []string{"/v2/models/{name}", "/v2/models/{name}/versions/{version}"} {
		handle("GET "+prefix, "model_metadata", s.modelMetadata)
		handle("GET "+prefix+"/ready", "model_ready", s.modelReady)
		handle("POST "+prefix+"/infer", "infer", s.infer)
		handle("POST "+prefix+"/classify", "classify", s.classify)
	}
	mux.Handle("GET /metrics", s.metrics.handler())
	handle("/", "other", func(w http.ResponseWriter, r *http.Request) {
		// The catch-all also sees known paths asked with the wrong method.
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			if method == r.Method {
				continue
			}
			other := r.Clone(r.Context())
			other.Method = method
			if _, pattern := mux.Handler(other); pattern != "/" {
				w.Header().Set("Allow", method)
				writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s: method not allowed; use %s", r.Method, r.URL.Path, method))
				return
			}
		}
		writeError(w, http.StatusNotFound, fmt.Sprintf("no endpoint %s %s; see GET /v2/models/%s", r.Method, r.URL.Path, m.Name()))
	})
	s.mux = mux
	s.ready.Store(true)
	return s
}

// Handler is the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }

// Close stops accepting inference, answers what is queued and stops the
// batcher. Serve calls it after the last request.
func (s *Server) Close() {
	s.ready.Store(false)
	s.batcher.Close()
}

// Serve answers requests on l until ctx ends, then shuts down gracefully:
// it stops accepting connections, reports not ready, lets the requests in
// flight finish (for at most grace), and stops the batcher. It returns nil
// after a clean shutdown.
func (s *Server) Serve(ctx context.Context, l net.Listener, grace time.Duration) error {
	hs := &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: min(10*time.Second, s.cfg.ReadTimeout),
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.New(logWriter{s.cfg.Logf}, "", 0),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	select {
	case err := <-errc:
		s.Close()
		return err
	case <-ctx.Done():
	}
	s.ready.Store(false)
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := hs.Shutdown(sctx)
	s.Close()
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// logWriter sends net/http's own log lines to Logf.
type logWriter struct{ logf func(string, ...any) }

func (l logWriter) Write(p []byte) (int, error) {
	l.logf("%s", p)
	return len(p), nil
}

func (s *Server) live(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]bool{"live": true})
}

func (s *Server) serverReady(w http.ResponseWriter, r *http.Request) {
	code := http.StatusOK
	if !s.ready.Load() {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, map[string]bool{"ready": s.ready.Load()})
}

func (s *Server) serverMetadata(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"name": "grcc", "version": version, "extensions": []string{"classify"}})
}

// version is reported by GET /v2; the CLI sets it to grcc's.
var version = "dev"

// SetVersion sets the server version GET /v2 reports.
func SetVersion(v string) { version = v }

// tensorMetadata is the protocol's description of a tensor.
type tensorMetadata struct {
	Name     string `json:"name"`
	Datatype string `json:"datatype"`
	Shape    []int  `json:"shape"`
}

// checkModel answers 404 unless the request names the served model.
func (s *Server) checkModel(w http.ResponseWriter, r *http.Request) bool {
	if name := r.PathValue("name"); name != s.model.Name() {
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown model %q; this server serves %q", name, s.model.Name()))
		return false
	}
	if v := r.PathValue("version"); v != "" && v != "1" {
		writeError(w, http.StatusNotFound, fmt.Sprintf("model %q has no version %q; it has one, \"1\"", s.model.Name(), v))
		return false
	}
	return true
}

func (s *Server) modelMetadata(w http.ResponseWriter, r *http.Request) {
	if !s.checkModel(w, r) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"name":     s.model.Name(),
		"versions": []string{"1"},
		"platform": "grcc",
		"inputs":   []tensorMetadata{{inputName, "FP32", []int{-1, s.c, s.h, s.w}}},
		"outputs":  []tensorMetadata{{outputName, "FP32", []int{-1, s.classes}}},
		"parameters": map[string]any{
			"max_batch_size": s.cfg.MaxBatch,
			"classify":       s.cfg.Classifier != nil,
		},
	})
}

func (s *Server) modelReady(w http.ResponseWriter, r *http.Request) {
	if !s.checkModel(w, r) {
		return
	}
	code := http.StatusOK
	if !s.ready.Load() {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, map[string]any{"name": s.model.Name(), "ready": s.ready.Load()})
}

// inferRequest is the protocol's inference request.
type inferRequest struct {
	ID         string          `json:"id"`
	Parameters json.RawMessage `json:"parameters"`
	Inputs     []struct {
		Name       string          `json:"name"`
		Shape      []int64         `json:"shape"`
		Datatype   string          `json:"datatype"`
		Parameters json.RawMessage `json:"parameters"`
		Data       json.RawMessage `json:"data"`
	} `json:"inputs"`
	Outputs []struct {
		Name string `json:"name"`
	} `json:"outputs"`
}

// badRequest is a client error with its status.
type badRequest struct {
	code int
	msg  string
}

func (e *badRequest) Error() string { return e.msg }

func bad(format string, args ...any) error {
	return &badRequest{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// readBody reads a request body within the size limit.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, &badRequest{http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds the limit of %d bytes", s.cfg.MaxBody)}
	case err != nil:
		return nil, &badRequest{http.StatusBadRequest, fmt.Sprintf("reading the request body: %v", err)}
	}
	return body, nil
}

// parseInfer checks an inference request and returns its id and input.
func (s *Server) parseInfer(body []byte) (string, []float32, int, error) {
	var req inferRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return "", nil, 0, bad("malformed JSON: %v", err)
	}
	if len(req.Inputs) != 1 {
		return "", nil, 0, bad("the request has %d inputs; the model takes one, %q", len(req.Inputs), inputName)
	}
	in := req.Inputs[0]
	if in.Name != inputName {
		return "", nil, 0, bad("unknown input %q; the model's input is %q", in.Name, inputName)
	}
	if in.Datatype != "FP32" {
		return "", nil, 0, bad("input %q: datatype %q, want FP32", in.Name, in.Datatype)
	}
	want := fmt.Sprintf("[N, %d, %d, %d]", s.c, s.h, s.w)
	if len(in.Shape) != 4 || in.Shape[1] != int64(s.c) || in.Shape[2] != int64(s.h) || in.Shape[3] != int64(s.w) || in.Shape[0] < 1 {
		return "", nil, 0, bad("input %q: shape %v, want %s with N ≥ 1", in.Name, in.Shape, want)
	}
	if in.Shape[0] > int64(s.cfg.MaxBatch) {
		return "", nil, 0, bad("input %q: batch of %d images; this server takes at most %d per request", in.Name, in.Shape[0], s.cfg.MaxBatch)
	}
	for _, o := range req.Outputs {
		if o.Name != outputName {
			return "", nil, 0, bad("unknown output %q; the model's output is %q", o.Name, outputName)
		}
	}
	if len(in.Data) == 0 {
		return "", nil, 0, bad("input %q has no data (binary tensor data is not supported)", in.Name)
	}
	n := int(in.Shape[0])
	x, err := parseData(in.Data, n*s.inLen)
	if err != nil {
		return "", nil, 0, bad("input %q: %v", in.Name, err)
	}
	return req.ID, x, n, nil
}

func (s *Server) infer(w http.ResponseWriter, r *http.Request) {
	if !s.checkModel(w, r) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	defer cancel()
	body, err := s.readBody(w, r)
	if err != nil {
		writeErr(w, err)
		return
	}
	id, x, n, err := s.parseInfer(body)
	if err != nil {
		writeErr(w, err)
		return
	}
	logits, err := s.run(ctx, x)
	if err != nil {
		writeErr(w, err)
		return
	}
	data, err := appendData(nil, logits)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "logits: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, struct {
		ModelName string `json:"model_name"`
		ID        string `json:"id,omitempty"`
		Outputs   []any  `json:"outputs"`
	}{s.model.Name(), id, []any{struct {
		Name     string          `json:"name"`
		Datatype string          `json:"datatype"`
		Shape    []int           `json:"shape"`
		Data     json.RawMessage `json:"data"`
	}{outputName, "FP32", []int{n, s.classes}, data}}})
}

// run passes x through the batcher and words its errors for the client.
func (s *Server) run(ctx context.Context, x []float32) ([]float32, error) {
	out, err := s.batcher.Do(ctx, x)
	switch {
	case err == nil:
		return out, nil
	case errors.Is(err, ErrQueueFull):
		return nil, &badRequest{http.StatusServiceUnavailable, "server busy: the request queue is full; retry later"}
	case errors.Is(err, ErrClosed):
		return nil, &badRequest{http.StatusServiceUnavailable, "server shutting down"}
	case errors.Is(err, context.DeadlineExceeded):
		return nil, &badRequest{http.StatusGatewayTimeout, fmt.Sprintf("no answer within the request deadline of %v", s.cfg.Timeout)}
	case errors.Is(err, context.Canceled):
		return nil, &badRequest{499, "client closed the request"}
	}
	return nil, &badRequest{http.StatusInternalServerError, "inference failed: " + err.Error()}
}

// Prediction is one class of a /classify answer.
type Prediction struct {
	Class       int     `json:"class"`
	Label       string  `json:"label,omitempty"`
	Probability float32 `json:"probability"`
}

func (s *Server) classify(w http.ResponseWriter, r *http.Request) {
	if !s.checkModel(w, r) {
		return
	}
	if s.cfg.Classifier == nil || s.cfg.Classifier.Preprocess == nil {
		writeError(w, http.StatusNotImplemented, fmt.Sprintf("model %q has no image preprocessing, so it cannot classify image files; send a preprocessed FP32 tensor to /v2/models/%s/infer", s.model.Name(), s.model.Name()))
		return
	}
	top := 5
	if t := r.URL.Query().Get("top"); t != "" {
		k, err := strconv.Atoi(t)
		if err != nil || k < 1 || k > s.classes {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("top=%q: want a whole number from 1 to %d", t, s.classes))
			return
		}
		top = k
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	defer cancel()
	x, err := s.cfg.Classifier.Preprocess(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds the limit of %d bytes", s.cfg.MaxBody))
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, "undecodable image: "+err.Error())
		return
	case len(x) != s.inLen:
		writeError(w, http.StatusInternalServerError, fmt.Sprintf("preprocessing gave %d floats, the model takes %d", len(x), s.inLen))
		return
	}
	logits, err := s.run(ctx, x)
	if err != nil {
		writeErr(w, err)
		return
	}
	probs := make([]float32, s.classes)
	runtime.Softmax(probs, logits)
	preds := []Prediction{}
	for _, c := range runtime.TopK(probs, top) {
		p := Prediction{Class: c, Probability: probs[c]}
		if c < len(s.cfg.Classifier.Labels) {
			p.Label = s.cfg.Classifier.Labels[c]
		}
		preds = append(preds, p)
	}
	writeJSON(w, http.StatusOK, map[string]any{"model_name": s.model.Name(), "predictions": preds})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, code int, msg string) {
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, code, map[string]string{"error": msg})
}

func writeErr(w http.ResponseWriter, err error) {
	var b *badRequest
	if errors.As(err, &b) {
		writeError(w, b.code, b.msg)
		return
	}
	writeError(w, http.StatusInternalServerError, err.Error())
}

// recoverJSON turns a panic in a handler into a 500 with a JSON error, so
// that no bug reaches the client as a dropped connection.
func recoverJSON(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				writeError(w, http.StatusInternalServerError, fmt.Sprintf("internal error: %v", v))
			}
		}()
		h(w, r)
	}
}
