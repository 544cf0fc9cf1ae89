package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeModel takes 1×2×2 images and gives 3 logits: the sum of the pixels,
// the first pixel and the last, so that an answer identifies its input.
type fakeModel struct{}

func (fakeModel) Name() string              { return "fake" }
func (fakeModel) InputShape() (c, h, w int) { return 1, 2, 2 }
func (fakeModel) NumClasses() int           { return 3 }
func (fakeModel) Forward(in, out []float32) error {
	for i := 0; i < len(in)/4; i++ {
		x := in[4*i : 4*i+4]
		out[3*i], out[3*i+1], out[3*i+2] = x[0]+x[1]+x[2]+x[3], x[0], x[3]
	}
	return nil
}

func newTestServer(t *testing.T, cfg Config) *httptest.Server {
	t.Helper()
	cfg.Logf = t.Logf
	s := New(fakeModel{}, cfg)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		ts.Close()
		s.Close()
	})
	return ts
}

// TestEndpoints checks every endpoint's answer, and that each bad request
// gets the right 4xx or 5xx status with a JSON error naming the problem.
func TestEndpoints(t *testing.T) {
	ts := newTestServer(t, Config{MaxBatch: 2, MaxBody: 4096, Classifier: &Classifier{
		Preprocess: func(r io.Reader) ([]float32, error) {
			b, _ := io.ReadAll(r)
			if string(b) != "IMAGE" {
				return nil, errors.New("not an image")
			}
			return []float32{1, 0, 0, 3}, nil
		},
		Labels: []string{"sum", "first", "last"},
	}})
	big := `{"inputs":[{"name":"input","shape":[1,1,2,2],"datatype":"FP32","data":[` + strings.Repeat("1,", 3000) + `1]}]}`
	for _, c := range []struct {
		method, path, body string
		code               int
		want               string // in the answer
	}{
		{"GET", "/v2/health/live", "", 200, `"live":true`},
		{"GET", "/v2/health/ready", "", 200, `"ready":true`},
		{"GET", "/v2", "", 200, `"name":"grcc"`},
		{"GET", "/v2/models/fake", "", 200, `"inputs":[{"name":"input","datatype":"FP32","shape":[-1,1,2,2]}]`},
		{"GET", "/v2/models/fake/ready", "", 200, `"ready":true`},
		{"GET", "/v2/models/other", "", 404, `unknown model \"other\"`},
		{"POST", "/v2/models/fake/infer", `{"id":"a1","inputs":[{"name":"input","shape":[2,1,2,2],"datatype":"FP32","data":[1,2,3,4,5,6,7,8]}]}`,
			200, `"id":"a1","outputs":[{"name":"logits","datatype":"FP32","shape":[2,3],"data":[10,1,4,26,5,8]}]`},
		{"POST", "/v2/models/fake/infer", `{"inputs":[{"name":"input","shape":[1,1,2,2],"datatype":"FP32","data":[[[[0.5,1],[1,1]]]]}]}`,
			200, `"data":[3.5,0.5,1]`},
		{"POST", "/v2/models/other/infer", `{}`, 404, "unknown model"},
		{"POST", "/v2/models/fake/infer", `{"inputs":[{"name":"input"`, 400, "malformed JSON"},
		{"POST", "/v2/models/fake/infer", `{"inputs":[]}`, 400, "has 0 inputs"},
		{"POST", "/v2/models/fake/infer", `{"inputs":[{"name":"x","shape":[1,1,2,2],"datatype":"FP32","data":[1,2,3,4]}]}`, 400, `unknown input \"x\"`},
		{"POST", "/v2/models/fake/infer", `{"inputs":[{"name":"input","shape":[1,1,2,2],"datatype":"FP64","data":[1,2,3,4]}]}`, 400, `datatype \"FP64\", want FP32`},
		{"POST", "/v2/models/fake/infer", `{"inputs":[{"name":"input","shape":[1,2,2],"datatype":"FP32","data":[1,2,3,4]}]}`, 400, "want [N, 1, 2, 2]"},
		{"POST", "/v2/models/fake/infer", `{"inputs":[{"name":"input","shape":[3,1,2,2],"datatype":"FP32","data":[]}]}`, 400, "at most 2 per request"},
		{"POST", "/v2/models/fake/infer", `{"inputs":[{"name":"input","shape":[1,1,2,2],"datatype":"FP32","data":[1,2,3]}]}`, 400, "holds 3 numbers, the shape needs 4"},
		{"POST", "/v2/models/fake/infer", `{"inputs":[{"name":"input","shape":[1,1,2,2],"datatype":"FP32","data":[1,2,3,"4"]}]}`, 400, "not a number"},
		{"POST", "/v2/models/fake/infer", `{"inputs":[{"name":"input","shape":[1,1,2,2],"datatype":"FP32","data":[1,2,3,4]}],"outputs":[{"name":"probs"}]}`, 400, `unknown output \"probs\"`},
		{"POST", "/v2/models/fake/infer", big, 413, "exceeds the limit of 4096 bytes"},
		{"POST", "/v2/models/fake/classify?top=2", "IMAGE", 200, `"predictions":[{"class":0,"label":"sum","probability":`},
		{"POST", "/v2/models/fake/classify", "GIF89a", 400, "undecodable image: not an image"},
		{"POST", "/v2/models/fake/classify?top=0", "IMAGE", 400, "top=\\\"0\\\""},
		{"GET", "/v2/models/fake/versions/1", "", 200, `"name":"fake"`},
		{"GET", "/v2/models/fake/versions/2/ready", "", 404, `no version \"2\"`},
		{"POST", "/v2/models/fake/versions/1/infer", `{"inputs":[{"name":"input","shape":[1,1,2,2],"datatype":"FP32","data":[1,2,3,4]}]}`,
			200, `"data":[10,1,4]`},
		{"GET", "/v2/models/fake/infer", "", 405, "method not allowed; use POST"},
		{"POST", "/v2/health/live", "", 405, "use GET"},
		{"GET", "/nowhere", "", 404, "no endpoint"},
	} {
		req, _ := http.NewRequest(c.method, ts.URL+c.path, strings.NewReader(c.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code || !strings.Contains(string(body), c.want) {
			t.Errorf("%s %s: %d %s\nwant %d and %s", c.method, c.path, resp.StatusCode, body, c.code, c.want)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: Content-Type %q", c.method, c.path, ct)
		}
		if resp.StatusCode >= 400 {
			var e struct{ Error string }
			if json.Unmarshal(body, &e) != nil || e.Error == "" {
				t.Errorf("%s %s: error answer %s is not {\"error\": ...}", c.method, c.path, body)
			}
		}
	}
	// Metrics, after the requests above.
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`grcc_requests_total{code="200",endpoint="infer"} 3`,
		`grcc_request_errors_total{code="413",endpoint="infer"} 1`,
		`grcc_batch_size_bucket{le="2"}`,
		`grcc_request_duration_seconds_bucket{endpoint="infer"`,
		"grcc_queue_depth 0",
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestClassifyUnconfigured checks the answer of a server without image
// preprocessing.
func TestClassifyUnconfigured(t *testing.T) {
	ts := newTestServer(t, Config{})
	resp, err := http.Post(ts.URL+"/v2/models/fake/classify", "image/jpeg", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotImplemented || !strings.Contains(string(body), "no image preprocessing") {
		t.Errorf("classify without preprocessing: %d %s", resp.StatusCode, body)
	}
}

// slowModel is fakeModel taking d per Forward.
type slowModel struct {
	fakeModel
	d time.Duration
}

func (m slowModel) Forward(in, out []float32) error {
	time.Sleep(m.d)
	return m.fakeModel.Forward(in, out)
}

// gateModel is fakeModel whose Forward waits for gate to close.
type gateModel struct {
	fakeModel
	gate    chan struct{}
	started chan struct{} // receives once per Forward
}

func (m gateModel) Forward(in, out []float32) error {
	m.started <- struct{}{}
	<-m.gate
	return m.fakeModel.Forward(in, out)
}

// TestGracefulShutdown cancels Serve's context while requests are in
// flight (one running, three queued): each gets its answer, readiness
// turns off, new connections are refused, and Serve returns nil.
func TestGracefulShutdown(t *testing.T) {
	m := gateModel{gate: make(chan struct{}), started: make(chan struct{}, 8)}
	s := New(m, Config{MaxBatch: 1, Logf: t.Logf})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, l, 30*time.Second) }()
	url := "http://" + l.Addr().String() + "/v2/models/fake/infer"
	body := `{"inputs":[{"name":"input","shape":[1,1,2,2],"datatype":"FP32","data":[1,2,3,4]}]}`
	var wg sync.WaitGroup
	codes := make(chan int, 4)
	for range 4 {
		wg.Go(func() {
			resp, err := http.Post(url, "application/json", strings.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes <- resp.StatusCode
		})
	}
	<-m.started
	waitFor(t, func() bool { return s.batcher.QueueLen() == 3 })
	cancel()
	waitFor(t, func() bool { return !s.ready.Load() })
	close(m.gate)
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != 200 {
			t.Errorf("a request in flight at shutdown got %d", code)
		}
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := http.Post(url, "application/json", bytes.NewReader([]byte(body))); err == nil {
		t.Error("a request after shutdown was accepted")
	}
}

// TestBusyAndDeadline checks the answers of a full queue (503 with
// Retry-After) and of a request past its deadline (504).
func TestBusyAndDeadline(t *testing.T) {
	s := New(slowModel{d: time.Second}, Config{MaxBatch: 1, Queue: 1, Timeout: 1500 * time.Millisecond, Logf: t.Logf})
	defer s.Close()
	slow := httptest.NewServer(s.Handler())
	defer slow.Close()
	body := `{"inputs":[{"name":"input","shape":[1,1,2,2],"datatype":"FP32","data":[1,2,3,4]}]}`
	type answer struct {
		code  int
		retry string
		body  string
	}
	answers := make(chan answer, 6)
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			resp, err := http.Post(slow.URL+"/v2/models/fake/infer", "application/json", strings.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			answers <- answer{resp.StatusCode, resp.Header.Get("Retry-After"), string(b)}
		})
	}
	wg.Wait()
	close(answers)
	counts := map[int]int{}
	for a := range answers {
		counts[a.code]++
		switch a.code {
		case 200:
		case 503:
			if a.retry != "1" || !strings.Contains(a.body, "queue is full") {
				t.Errorf("503 without Retry-After or reason: %q %s", a.retry, a.body)
			}
		case 504:
			if !strings.Contains(a.body, "deadline") {
				t.Errorf("504 without reason: %s", a.body)
			}
		default:
			t.Errorf("unexpected answer %d %s", a.code, a.body)
		}
	}
	// One runs (1 s), one waits in the queue (answered at 2 s, past its
	// 1.5 s deadline), the rest find the queue full.
	if counts[200] != 1 || counts[504] != 1 || counts[503] != 4 {
		t.Errorf("answers by status: %v; want one 200, one 504 and four 503", counts)
	}
}
