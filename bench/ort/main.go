// Command ort times an ONNX model with ONNX Runtime the way grcc bench times
// grcc, so that bench/compare can put the two side by side.
//
//	ort -lib libonnxruntime.so.1 -model grcnn55.onnx -batch 1 -threads 2
//
// It runs the model on a random N×C×H×W float32 batch (the shape comes from
// the model's input, with the batch axis set to -batch), with intra-op
// threads = -threads, inter-op threads 1 and ONNX Runtime's default graph
// optimisations, and prints one JSON object: median_ms, min_ms,
// images_per_s, peak_rss_mb (the process's peak resident memory).
// -profile PREFIX also writes ONNX Runtime's own per-node profile (Chrome
// trace JSON) to PREFIX_<date>.json, to compare layer by layer with
// grcc bench --layers.
//
// It is a module of its own so that grcc's go.mod never depends on ONNX
// Runtime.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	ort "github.com/yalue/onnxruntime_go"
)

type result struct {
	Model      string  `json:"model"`
	Engine     string  `json:"engine"`
	Batch      int     `json:"batch"`
	Threads    int     `json:"threads"`
	Rounds     int     `json:"rounds"`
	MedianMS   float64 `json:"median_ms"`
	MinMS      float64 `json:"min_ms"`
	ImagesPerS float64 `json:"images_per_s"`
	PeakRSSMB  float64 `json:"peak_rss_mb"`
}

func main() {
	lib := flag.String("lib", "", "path of libonnxruntime.so")
	model := flag.String("model", "", "ONNX file")
	batch := flag.Int("batch", 1, "images per run")
	threads := flag.Int("threads", 1, "intra-op threads")
	rounds := flag.Int("rounds", 10, "minimum number of timed runs")
	minTime := flag.Duration("time", 3*time.Second, "minimum total timed duration")
	warmup := flag.Int("warmup", 2, "untimed runs first")
	profile := flag.String("profile", "", "write ONNX Runtime's per-node profile to `PREFIX`_<date>.json")
	flag.Parse()
	if *lib == "" || *model == "" || *batch < 1 || *threads < 1 || *rounds < 1 {
		fmt.Fprintln(os.Stderr, "usage: ort -lib LIB -model FILE.onnx [-batch N] [-threads T] [-rounds R] [-time D]")
		os.Exit(2)
	}
	r, err := run(*lib, *model, *batch, *threads, *rounds, *warmup, *minTime, *profile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ort: %v\n", err)
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(r)
}

func run(lib, model string, batch, threads, rounds, warmup int, minTime time.Duration, profile string) (*result, error) {
	ort.SetSharedLibraryPath(lib)
	if err := ort.InitializeEnvironment(); err != nil {
		return nil, fmt.Errorf("loading %s: %w", lib, err)
	}
	defer ort.DestroyEnvironment()

	inputs, outputs, err := ort.GetInputOutputInfo(model)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", model, err)
	}
	if len(inputs) != 1 || len(outputs) != 1 {
		return nil, fmt.Errorf("%s: %d inputs and %d outputs, want one of each", model, len(inputs), len(outputs))
	}
	inShape := ort.NewShape(inputs[0].Dimensions...)
	outShape := ort.NewShape(outputs[0].Dimensions...)
	if len(inShape) != 4 || len(outShape) != 2 {
		return nil, fmt.Errorf("%s: input %v and output %v, want N×C×H×W and N×classes", model, inShape, outShape)
	}
	inShape[0], outShape[0] = int64(batch), int64(batch)

	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	defer opts.Destroy()
	if err := opts.SetIntraOpNumThreads(threads); err != nil {
		return nil, err
	}
	if err := opts.SetInterOpNumThreads(1); err != nil {
		return nil, err
	}
	if profile != "" {
		if err := opts.EnableProfiling(profile); err != nil {
			return nil, err
		}
	}

	data := make([]float32, inShape.FlattenedSize())
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = float32(rng.NormFloat64())
	}
	in, err := ort.NewTensor(inShape, data)
	if err != nil {
		return nil, err
	}
	defer in.Destroy()
	out, err := ort.NewEmptyTensor[float32](outShape)
	if err != nil {
		return nil, err
	}
	defer out.Destroy()

	sess, err := ort.NewAdvancedSession(model, []string{inputs[0].Name}, []string{outputs[0].Name},
		[]ort.Value{in}, []ort.Value{out}, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", model, err)
	}
	defer sess.Destroy()

	for range warmup {
		if err := sess.Run(); err != nil {
			return nil, err
		}
	}
	var times []time.Duration
	start := time.Now()
	for len(times) < rounds || time.Since(start) < minTime {
		t0 := time.Now()
		if err := sess.Run(); err != nil {
			return nil, err
		}
		times = append(times, time.Since(t0))
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	median := times[len(times)/2]
	rss, err := peakRSS()
	if err != nil {
		return nil, err
	}
	name := strings.TrimSuffix(filepath.Base(model), ".onnx")
	return &result{
		Model: name, Engine: "onnxruntime " + ort.GetVersion(), Batch: batch, Threads: threads,
		Rounds: len(times), MedianMS: ms(median), MinMS: ms(times[0]),
		ImagesPerS: float64(batch) / median.Seconds(), PeakRSSMB: rss,
	}, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// peakRSS is the process's peak resident memory in MB (VmHWM), the figure
// grcc bench and the PyTorch harness report.
func peakRSS() (float64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			return 0, err
		}
		return float64(ru.Maxrss) / 1024, nil
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseFloat(f[1], 64)
			return kb / 1024, err
		}
	}
	return 0, errors.New("no VmHWM in /proc/self/status")
}
