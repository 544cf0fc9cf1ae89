package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/grcc/grcc/engine"
	"github.com/grcc/grcc/ir"
	"github.com/grcc/grcc/plan"
	"github.com/grcc/grcc/runtime/imageproc"
	"github.com/grcc/grcc/serve"
)

var serveCmd = &command{
	name: "serve", args: "SPEC (--weights FILE | --random-weights SEED) [--addr HOST:PORT] [--max-batch N] [--batch-delay D] [--queue N]", nargs: 1,
	summary: "serve a spec over HTTP (Open Inference Protocol v2)",
	detail: `Loads the spec and its weights and answers the Open Inference Protocol's
REST API on --addr:

  GET  /v2/health/live, /v2/health/ready, /v2
  GET  /v2/models/NAME            metadata: input [N, C, H, W] FP32, output logits [N, classes]
  GET  /v2/models/NAME/ready
  POST /v2/models/NAME/infer      FP32 input tensor as JSON, answers the logits
  POST /v2/models/NAME/classify   an image file, answers the top classes (?top=K)
  GET  /metrics                   Prometheus text format

Concurrent requests are batched dynamically: a batch gathers requests for
up to --batch-delay, or until it holds --max-batch images, and runs as one
forward pass (--max-batch 1 turns batching off). --max-batch is also the
most images one request may hold. At most --queue requests wait; beyond
that the server answers 503 with Retry-After. Each request must be answered
within --timeout. SIGINT or SIGTERM stops accepting connections, finishes
the requests in flight and exits 0.`,
	flags: func(fs *flag.FlagSet) func(*env, []string) error {
		weights := fs.String("weights", "", "checkpoint `file` to load")
		seed := fs.Int64("random-weights", -1, "use random weights from this `seed` instead of a checkpoint")
		addr := fs.String("addr", "127.0.0.1:8000", "`address` to listen on")
		maxBatch := fs.Int("max-batch", 8, "images per forward pass and per request, at most")
		delay := fs.Duration("batch-delay", 2*time.Millisecond, "how long a batch waits for more requests")
		queue := fs.Int("queue", 64, "requests waiting for a batch, at most")
		workers := fs.Int("workers", 1, "forward passes at once (each takes a workspace of activations)")
		timeout := fs.Duration("timeout", 30*time.Second, "deadline of each request")
		maxBody := fs.Int64("max-body", 0, "request body limit in `bytes` (default: enough for --max-batch images as JSON)")
		grace := fs.Duration("grace", 30*time.Second, "how long shutdown waits for requests in flight")
		return func(e *env, args []string) error {
			switch {
			case (*weights == "") == (*seed < 0):
				return usagef("give exactly one of --weights FILE and --random-weights SEED")
			case *maxBatch < 1 || *queue < 1 || *workers < 1:
				return usagef("--max-batch, --queue and --workers must be at least 1")
			case *delay < 0 || *timeout <= 0 || *maxBody < 0:
				return usagef("--batch-delay must not be negative, --timeout must be positive")
			}
			m, err := loadSpec(args[0])
			if err != nil {
				return err
			}
			sd, name, err := stateDict(m, *weights, *seed)
			if err != nil {
				return err
			}
			p, err := plan.Build(m, plan.Options{})
			if err != nil {
				return err
			}
			model, err := engine.New(p, sd, name)
			if err != nil {
				return err
			}
			model.SetMaxWorkspaces(*workers)
			cfg := serve.Config{MaxBatch: *maxBatch, BatchDelay: *delay, Queue: *queue, Workers: *workers,
				Timeout: *timeout, MaxBody: *maxBody, Classifier: classifier(m),
				Logf: func(format string, a ...any) { fmt.Fprintf(e.stderr, format+"\n", a...) }}
			if *delay == 0 {
				cfg.BatchDelay = -1 // take only the requests already waiting
			}
			serve.SetVersion(Version)
			srv := serve.New(model, cfg)
			l, err := net.Listen("tcp", *addr)
			if err != nil {
				srv.Close()
				return err
			}
			ctx, stop := serveContext() // before saying so: a signal from then on stops gracefully
			defer stop()
			fmt.Fprintf(e.stdout, "serving %s on http://%s (max batch %d, batch delay %v, queue %d, workers %d)\n",
				m.Name, l.Addr(), *maxBatch, *delay, *queue, *workers)
			if err := srv.Serve(ctx, l, *grace); err != nil {
				return fmt.Errorf("serve: %w", err)
			}
			fmt.Fprintln(e.stdout, "stopped")
			return nil
		}
	},
}

// classifier is the image side of /classify for a spec: its preprocessing
// (decode, convert, resize, crop, normalise: one image file to C×H×W
// floats, as grcc predict does) and its class names. A model whose input
// no image gives (neither 1 nor 3 channels) has none, and /classify
// answers 501.
func classifier(m *ir.Model) *serve.Classifier {
	cfg, err := imageConfig(m)
	if err != nil {
		return nil
	}
	return &serve.Classifier{
		Preprocess: func(r io.Reader) ([]float32, error) {
			img, err := imageproc.Decode(r)
			if err != nil {
				return nil, err
			}
			x := make([]float32, cfg.Len())
			if err := cfg.Preprocess(img, x); err != nil {
				return nil, err
			}
			return x, nil
		},
		Labels: m.Preprocess.ClassNames,
	}
}

// serveContext is the context grcc serve runs in: it ends on SIGINT or
// SIGTERM. Tests replace it.
var serveContext = func() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}
