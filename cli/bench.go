package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/grcc/grcc/engine"
	"github.com/grcc/grcc/ir"
	kernels "github.com/grcc/grcc/runtime"
)

var benchCmd = &command{
	name: "bench", args: "SPEC [--batch N] [--engine go|cuda] [--json]", nargs: 1,
	summary: "time a spec's forward pass on random weights",
	detail: `Runs warm-up forwards, then timed ones for at least --time and --rounds,
and prints the median and minimum latency, images/s, GFLOP/s (2 × MACs per
image × batch / median), the share of the machine's peak, and the peak
resident memory of the process.

The peak is measured, not looked up: the GFLOP/s of grcc's own convolution
kernel on a problem that fits in cache, on all cores (GOMAXPROCS). It says how
close the model gets to what the kernels can do on this machine.`,
	flags: func(fs *flag.FlagSet) func(*env, []string) error {
		batch := fs.Int("batch", 0, "images per forward, and the batch the program is planned for, as grcc build -batch (default: the spec's N)")
		engineName := fs.String("engine", "go", "go (CPU) or cuda")
		asJSON := fs.Bool("json", false, "print one JSON object")
		rounds := fs.Int("rounds", 10, "minimum number of timed forwards")
		minTime := fs.Duration("time", 3*time.Second, "minimum total timed duration")
		warmup := fs.Int("warmup", 2, "untimed forwards first")
		layers := fs.Int("layers", 0, "after timing, profile each step and print the `N` slowest and the time per kind of step (engine go)")
		cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the timed forwards to `FILE` (go tool pprof reads it)")
		return func(e *env, args []string) error {
			m, err := loadSpec(args[0])
			if err != nil {
				return err
			}
			n := m.Batch
			if *batch != 0 {
				// Plan for the batch that runs, as grcc build -batch
				// does: the cost model may choose by it.
				n, m.Batch = *batch, *batch
			}
			if n < 1 || *rounds < 1 || *warmup < 0 {
				return usagef("--batch, --rounds and --warmup must be positive")
			}
			if *layers < 0 || (*layers > 0 && *engineName != "go") {
				return usagef("--layers takes a positive count and the go engine")
			}
			sd, name, _ := stateDict(m, "", 1)
			// --layers needs the engine itself, for its trace.
			var em *engine.Model
			var fwd forwardFunc
			if *layers > 0 {
				em, err = newEngine(m, sd, name)
				if em != nil {
					fwd = em.Forward
				}
			} else {
				fwd, err = newForward(*engineName, m, sd, name)
			}
			if err != nil {
				return err
			}
			var stop func() error
			if *cpuProfile != "" {
				if stop, err = startCPUProfile(*cpuProfile); err != nil {
					return err
				}
			}
			r, err := benchmark(m, fwd, n, *warmup, *rounds, *minTime)
			if stop != nil {
				if perr := stop(); err == nil {
					err = perr
				}
			}
			if err != nil {
				return err
			}
			r.Engine = *engineName
			if *asJSON {
				enc := json.NewEncoder(e.stdout)
				return enc.Encode(r)
			}
			fmt.Fprintf(e.stdout, "%s batch %d on %s (%d threads): median %.2f ms, min %.2f ms, %.1f images/s\n",
				r.Model, r.Batch, r.Engine, r.Threads, r.MedianMS, r.MinMS, r.ImagesPerS)
			fmt.Fprintf(e.stdout, "%.1f GFLOP/s, %.0f%% of the measured kernel peak %.1f GFLOP/s; peak RSS %.0f MB\n",
				r.GFLOPS, r.PercentOfPeak, r.PeakGFLOPS, r.PeakRSSMB)
			if em != nil {
				return profileSteps(e.stdout, em, m, n, *rounds, *layers)
			}
			return nil
		}
	},
}

// benchResult is what grcc bench reports.
type benchResult struct {
	Model         string  `json:"model"`
	Engine        string  `json:"engine"`
	Batch         int     `json:"batch"`
	Threads       int     `json:"threads"`
	Rounds        int     `json:"rounds"`
	MedianMS      float64 `json:"median_ms"`
	MinMS         float64 `json:"min_ms"`
	ImagesPerS    float64 `json:"images_per_s"`
	GFLOPS        float64 `json:"gflops"`
	PeakGFLOPS    float64 `json:"peak_gflops"`
	PercentOfPeak float64 `json:"percent_of_peak"`
	PeakRSSMB     float64 `json:"peak_rss_mb"`
}

func benchmark(m *ir.Model, fwd forwardFunc, n, warmup, rounds int, minTime time.Duration) (*benchResult, error) {
	in := make([]float32, n*m.Input.Len())
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range in {
		in[i] = float32(rng.NormFloat64())
	}
	out := make([]float32, n*m.Classes)
	for range warmup {
		if err := fwd(in, out); err != nil {
			return nil, err
		}
	}
	var times []time.Duration
	start := time.Now()
	for len(times) < rounds || time.Since(start) < minTime {
		t0 := time.Now()
		if err := fwd(in, out); err != nil {
			return nil, err
		}
		times = append(times, time.Since(t0))
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	median := times[len(times)/2]
	r := &benchResult{
		Model: m.Name, Batch: n, Threads: runtime.GOMAXPROCS(0), Rounds: len(times),
		MedianMS:   median.Seconds() * 1e3,
		MinMS:      times[0].Seconds() * 1e3,
		ImagesPerS: float64(n) / median.Seconds(),
	}
	r.GFLOPS = 2 * float64(m.Stats().MACs) * float64(n) / median.Seconds() / 1e9
	r.PeakGFLOPS = kernels.KernelPeak()
	if r.PeakGFLOPS > 0 {
		r.PercentOfPeak = 100 * r.GFLOPS / r.PeakGFLOPS
	}
	r.PeakRSSMB = peakRSSMB()
	return r, nil
}

// peakRSSMB reads the process's peak resident set size (VmHWM) on Linux; 0 elsewhere.
func peakRSSMB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			fields := strings.Fields(rest)
			if len(fields) > 0 {
				kb, _ := strconv.ParseFloat(fields[0], 64)
				return kb / 1024
			}
		}
	}
	return 0
}

// startCPUProfile starts writing a CPU profile to path; the function it
// returns stops it and closes the file.
func startCPUProfile(path string) (func() error, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile %s: %w", path, err)
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		return nil
	}, nil
}
