package serve_test

// The load test and the fault run: a real model (the engine on random
// weights) behind the server on the loopback address, many concurrent
// clients, every answer checked against a serial Forward of the same input.
//
// By default they run a short version on a small spec, as CI does. With
// GRCC_LOAD=full, TestLoad measures the README's figures for grcnn56 and
// grcnn55 (throughput, p50 and p99 latency, with dynamic batching and
// without):
//
//	GRCC_LOAD=full go test ./serve -run 'TestLoad|TestFaults' -v -timeout 30m

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grcc/grcc/engine"
	"github.com/grcc/grcc/internal/spectest"
	"github.com/grcc/grcc/serve"
)

func full() bool { return os.Getenv("GRCC_LOAD") == "full" }

// start serves m on a loopback port and returns its address and a
// function that shuts it down gracefully and checks that Serve returned nil.
func start(t testing.TB, m serve.Model, cfg serve.Config) (addr string, stop func()) {
	t.Helper()
	cfg.Logf = func(string, ...any) {} // the fault run makes net/http log on purpose
	s := serve.New(m, cfg)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, l, 30*time.Second) }()
	return l.Addr().String(), func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}
}

// inferBody is the protocol's JSON request for n images x.
func inferBody(x []float32, n, c, h, w int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"inputs":[{"name":"input","shape":[%d,%d,%d,%d],"datatype":"FP32","data":[`, n, c, h, w)
	buf := make([]byte, 0, 16)
	for i, v := range x {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(strconv.AppendFloat(buf[:0], float64(v), 'g', -1, 32))
	}
	b.WriteString(`]}]}`)
	return b.Bytes()
}

// randomImages returns n images of short decimal values (short JSON).
func randomImages(rng *rand.Rand, n, inLen int) []float32 {
	x := make([]float32, n*inLen)
	for i := range x {
		x[i] = float32(rng.IntN(2001)-1000) / 1000
	}
	return x
}

// infer posts one request and returns the status, the logits of a 200 and
// the body.
func infer(client *http.Client, url string, body []byte) (int, []float32, []byte, error) {
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil, raw, nil
	}
	var r struct {
		Outputs []struct {
			Shape []int
			Data  []float32
		}
	}
	if err := json.Unmarshal(raw, &r); err != nil || len(r.Outputs) != 1 {
		return resp.StatusCode, nil, raw, fmt.Errorf("bad answer %.200s: %v", raw, err)
	}
	return resp.StatusCode, r.Outputs[0].Data, raw, nil
}

// loadRun is the outcome of one load run.
type loadRun struct {
	requests, images int
	wall             time.Duration
	latencies        []time.Duration
}

func (r loadRun) percentile(p float64) time.Duration {
	l := slices.Clone(r.latencies)
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	return l[min(len(l)-1, int(float64(len(l))*p))]
}

// runLoad sends clients × requests one-image requests of random inputs and
// checks each answer against a serial Forward of the same input, bit for
// bit: batching must not change a result.
func runLoad(t *testing.T, m *engine.Model, cfg serve.Config, clients, requests int) loadRun {
	addr, stop := start(t, m, cfg)
	defer stop()
	url := "http://" + addr + "/v2/models/" + m.Name() + "/infer"
	c, h, w := m.InputShape()
	il, nc := m.InputLen(), m.NumClasses()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}, Timeout: 5 * time.Minute}
	inputs := make([][][]float32, clients)
	answers := make([][][]float32, clients)
	lat := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	begin := time.Now()
	for k := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(k), 7))
			for range requests {
				x := randomImages(rng, 1, il)
				body := inferBody(x, 1, c, h, w)
				t0 := time.Now()
				code, y, raw, err := infer(client, url, body)
				if err != nil || code != 200 {
					t.Errorf("client %d: %d %.300s %v", k, code, raw, err)
					return
				}
				lat[k] = append(lat[k], time.Since(t0))
				inputs[k] = append(inputs[k], x)
				answers[k] = append(answers[k], y)
			}
		})
	}
	wg.Wait()
	run := loadRun{wall: time.Since(begin)}
	want := make([]float32, nc)
	for k := range clients {
		for i, x := range inputs[k] {
			if err := m.Forward(x, want); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(answers[k][i], want) {
				t.Errorf("client %d request %d: the answer differs from a serial Forward of its input", k, i)
			}
			run.requests++
			run.images++
		}
		run.latencies = append(run.latencies, lat[k]...)
	}
	if run.requests != clients*requests {
		t.Fatalf("%d of %d requests answered", run.requests, clients*requests)
	}
	return run
}

// TestLoad runs concurrent clients against the server with dynamic
// batching and without, checks every answer, and reports the figures. The
// modes take turns, round after round, so that a change in the machine's
// load (it may be shared) falls on all of them alike.
func TestLoad(t *testing.T) {
	specs := []string{"testdata/reference/tiny_cifar.grc"}
	clients, requests, rounds := 8, 3, 2
	if full() {
		specs = []string{"spec/grcnn56.grc", "spec/grcnn55.grc"}
		clients, requests, rounds = 16, 4, 3
	}
	modes := []struct {
		name string
		cfg  serve.Config
	}{
		{"batching (max batch 8, delay 2ms, 1 worker)", serve.Config{MaxBatch: 8, BatchDelay: 2 * time.Millisecond, Workers: 1}},
		{"no batching (max batch 1, 1 worker)", serve.Config{MaxBatch: 1, Workers: 1}},
		{"no batching (max batch 1, 2 workers)", serve.Config{MaxBatch: 1, Workers: 2}},
	}
	t.Logf("%d clients × %d requests of one image each, %d rounds per mode, on 127.0.0.1", clients, requests, rounds)
	t.Logf("| model | server | images/s | p50 ms | p99 ms |")
	for _, spec := range specs {
		m := spectest.Engine(t, spec, 1)
		m.SetMaxWorkspaces(2)
		total := make([]loadRun, len(modes))
		for range rounds {
			for i, mode := range modes {
				r := runLoad(t, m, mode.cfg, clients, requests)
				total[i].images += r.images
				total[i].wall += r.wall
				total[i].latencies = append(total[i].latencies, r.latencies...)
			}
		}
		for i, mode := range modes {
			r := total[i]
			t.Logf("| %s | %s | %.1f | %.0f | %.0f |", m.Name(), mode.name,
				float64(r.images)/r.wall.Seconds(), ms(r.percentile(0.50)), ms(r.percentile(0.99)))
		}
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// TestFaults mixes good clients with clients that disconnect in the middle
// of a request or before its answer, send their body slowly, or send
// malformed requests. The good requests must all get correct answers, the
// malformed ones a 4xx with a JSON error, and the server must keep running.
func TestFaults(t *testing.T) {
	spec := "testdata/reference/tiny_cifar.grc"
	if full() {
		spec = "spec/grcnn56.grc"
	}
	m := spectest.Engine(t, spec, 1)
	c, h, w := m.InputShape()
	il, nc := m.InputLen(), m.NumClasses()
	addr, stop := start(t, m, serve.Config{MaxBatch: 4, Workers: 2, Queue: 256,
		MaxBody: int64(4*il*12 + 4096), ReadTimeout: 500 * time.Millisecond, Timeout: 20 * time.Second})
	defer stop()
	url := "http://" + addr + "/v2/models/" + m.Name() + "/infer"
	client := &http.Client{Timeout: time.Minute}

	good := func(seed uint64, n int) {
		rng := rand.New(rand.NewPCG(seed, 9))
		for i := range n {
			k := 1 + i%3 // 1 to 3 images
			x := randomImages(rng, k, il)
			code, y, raw, err := infer(client, url, inferBody(x, k, c, h, w))
			if err != nil || code != 200 {
				t.Errorf("good request: %d %.300s %v", code, raw, err)
				continue
			}
			want := make([]float32, k*nc)
			if err := m.Forward(x, want); err != nil {
				t.Error(err)
			} else if !slices.Equal(y, want) {
				t.Errorf("good request %d of client %d: wrong answer", i, seed)
			}
		}
	}
	// raw sends a request over a bare connection: headers, then body[:cut]
	// (at pace per byte when pace > 0), then closes or reads the answer.
	raw := func(body []byte, cut int, pace time.Duration, read bool) string {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Error(err)
			return ""
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(conn, "POST /v2/models/%s/infer HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", m.Name(), addr, len(body))
		if pace == 0 {
			conn.Write(body[:cut])
		} else {
			for i := 0; i < cut; i++ {
				if _, err := conn.Write(body[i : i+1]); err != nil {
					break // the server gave up on us, as it should
				}
				time.Sleep(pace)
			}
		}
		if !read {
			return ""
		}
		status, _ := bufio.NewReader(conn).ReadString('\n')
		return status
	}
	one := inferBody(randomImages(rand.New(rand.NewPCG(1, 1)), 1, il), 1, c, h, w)
	malformed := []struct {
		body string
		code int
	}{
		{`{"inputs":[{"name":"input",`, 400},
		{`not json at all`, 400},
		{`{"inputs":[{"name":"input","shape":[1,3,7,7],"datatype":"FP32","data":[1]}]}`, 400},
		{`{"inputs":[{"name":"input","shape":[1,` + fmt.Sprint(c, ",", h, ",", w) + `],"datatype":"INT64","data":[1]}]}`, 400},
		{`{"inputs":[{"name":"input","shape":[9,` + fmt.Sprint(c, ",", h, ",", w) + `],"datatype":"FP32","data":[1]}]}`, 400},
		{`{"inputs":[{"name":"input","shape":[1,` + fmt.Sprint(c, ",", h, ",", w) + `],"datatype":"FP32","data":[1,2]}]}`, 400},
		{strings.Repeat(" ", 4*il*12+8192), 413},
	}
	var wg sync.WaitGroup
	goodClients, goodRequests := 4, 6
	if full() {
		goodRequests = 12
	}
	for k := range goodClients {
		wg.Go(func() { good(uint64(k), goodRequests) })
	}
	for range 8 { // half a body, then gone
		wg.Go(func() { raw(one, len(one)/2, 0, false) })
	}
	for range 8 { // a whole request, gone before the answer
		wg.Go(func() { raw(one, len(one), 0, false) })
	}
	for range 3 { // a body too slow for the read timeout
		wg.Go(func() { raw(one, 40, 50*time.Millisecond, true) })
	}
	for range 3 {
		for _, bad := range malformed {
			wg.Go(func() {
				code, _, body, err := infer(client, url, []byte(bad.body))
				var e struct{ Error string }
				if err != nil || code != bad.code || json.Unmarshal(body, &e) != nil || e.Error == "" {
					t.Errorf("malformed request %.60q: %d %.200s %v; want %d with a JSON error", bad.body, code, body, err, bad.code)
				}
			})
		}
	}
	wg.Wait()
	// The server is still up and still right.
	resp, err := client.Get("http://" + addr + "/v2/health/live")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after the faults: live %v %v", resp, err)
	}
	resp.Body.Close()
	good(99, 2)
}
