package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/grcc/grcc/ir"
	"github.com/grcc/grcc/runtime"
	"github.com/grcc/grcc/runtime/imageproc"
	"github.com/grcc/grcc/runtime/npy"
)

var preprocessCmd = &command{
	name: "preprocess", args: "SPEC IMAGE... --output X.npy", nargs: -3,
	summary: "write images as the float32 batch the model sees",
	detail: `Each image is decoded (JPEG, PNG, GIF, BMP, TIFF, WebP), converted to RGB or
gray, resized, center-cropped and normalised as the spec's preprocess block
says, and the batch is written as a float32 N×C×H×W .npy array, ready for
grcc run.`,
	flags: func(fs *flag.FlagSet) func(*env, []string) error {
		output := fs.String("output", "", "where to write the batch (`X.npy`)")
		return func(e *env, args []string) error {
			if *output == "" {
				return usagef("--output is required")
			}
			m, cfg, err := imageModel(args[0])
			if err != nil {
				return err
			}
			batch, err := preprocessAll(cfg, args[1:])
			if err != nil {
				return err
			}
			shape := []int{len(args) - 1, m.Input.C, m.Input.H, m.Input.W}
			if err := npy.WriteFloat32(*output, batch, shape); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s: %s batch written to %s\n", m.Name, formatShape(shape), *output)
			return nil
		}
	},
}

var predictCmd = &command{
	name: "predict", args: "SPEC (--weights FILE | --random-weights SEED) [--top K] [--json] [--output LOGITS.npy] IMAGE...", nargs: -3,
	summary: "classify image files: the top classes of each with their probabilities",
	detail: `The images are preprocessed as the spec's preprocess block says (see grcc
preprocess) and run through the model; for each image the K most probable
classes are printed with their softmax probabilities and, when the spec has
labels, their names. --json prints the same as a JSON array; --output also
writes the logits as a float32 N×classes .npy array.`,
	flags: func(fs *flag.FlagSet) func(*env, []string) error {
		weights := fs.String("weights", "", "checkpoint `file` to load")
		seed := fs.Int64("random-weights", -1, "use random weights from this `seed` instead of a checkpoint")
		top := fs.Int("top", 5, "how many classes to print per image")
		asJSON := fs.Bool("json", false, "print JSON")
		output := fs.String("output", "", "also write the logits (`LOGITS.npy`)")
		return func(e *env, args []string) error {
			if (*weights == "") == (*seed < 0) {
				return usagef("give exactly one of --weights FILE and --random-weights SEED")
			}
			if *top < 1 {
				return usagef("--top must be at least 1")
			}
			m, cfg, err := imageModel(args[0])
			if err != nil {
				return err
			}
			paths := args[1:]
			batch, err := preprocessAll(cfg, paths)
			if err != nil {
				return err
			}
			sd, name, err := stateDict(m, *weights, *seed)
			if err != nil {
				return err
			}
			fwd, err := newForward("go", m, sd, name)
			if err != nil {
				return err
			}
			logits := make([]float32, len(paths)*m.Classes)
			if err := fwd(batch, logits); err != nil {
				return fmt.Errorf("%s: %w", m.Source, err)
			}
			if *output != "" {
				if err := npy.WriteFloat32(*output, logits, []int{len(paths), m.Classes}); err != nil {
					return err
				}
			}
			return printPredictions(e.stdout, m, paths, logits, *top, *asJSON)
		}
	},
}

// imageModel loads a spec that takes images.
func imageModel(path string) (*ir.Model, *imageproc.Config, error) {
	m, err := loadSpec(path)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := imageConfig(m)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, cfg, nil
}

// imageConfig is a checked model's preprocessing, for the image runtime.
func imageConfig(m *ir.Model) (*imageproc.Config, error) {
	p := m.Preprocess
	if p == nil {
		return nil, fmt.Errorf("the model's input has %d channels; images give 1 (gray) or 3 (RGB)", m.Input.C)
	}
	cfg := &imageproc.Config{Channels: p.Channels(), Resize: p.Resize, CropHeight: p.CropH, CropWidth: p.CropW,
		Height: m.Input.H, Width: m.Input.W}
	for i := range p.Mean {
		cfg.Mean = append(cfg.Mean, float32(p.Mean[i]))
		cfg.Std = append(cfg.Std, float32(p.Std[i]))
	}
	return cfg, nil
}

// preprocessImage decodes and preprocesses one file into dst; errors name it.
func preprocessImage(cfg *imageproc.Config, path string, dst []float32) error {
	img, err := imageproc.DecodeFile(path)
	if err != nil {
		return err // names the file
	}
	if err := cfg.Preprocess(img, dst); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	return nil
}

// preprocessAll preprocesses files in parallel into one batch; the first
// failure (in file order) is the error.
func preprocessAll(cfg *imageproc.Config, paths []string) ([]float32, error) {
	n := cfg.Len()
	batch := make([]float32, len(paths)*n)
	errs := make([]error, len(paths))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(len(paths), goruntime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = preprocessImage(cfg, paths[i], batch[i*n:(i+1)*n])
			}
		}()
	}
	for i := range paths {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return batch, nil
}

type jsonClass struct {
	Class       int     `json:"class"`
	Name        string  `json:"name,omitempty"`
	Probability float64 `json:"probability"`
}

type jsonImage struct {
	Path string      `json:"path"`
	Top  []jsonClass `json:"top"`
}

func printPredictions(w io.Writer, m *ir.Model, paths []string, logits []float32, k int, asJSON bool) error {
	names := m.Preprocess.ClassNames
	var out []jsonImage
	probs := make([]float32, m.Classes)
	for i, path := range paths {
		runtime.Softmax(probs, logits[i*m.Classes:(i+1)*m.Classes])
		img := jsonImage{Path: path}
		for _, c := range runtime.TopK(probs, k) {
			jc := jsonClass{Class: c, Probability: float64(probs[c])}
			if names != nil {
				jc.Name = names[c]
			}
			img.Top = append(img.Top, jc)
		}
		out = append(out, img)
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	for i, img := range out {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w, img.Path)
		for _, c := range img.Top {
			if c.Name != "" {
				fmt.Fprintf(w, "  %6.2f%%  %4d  %s\n", 100*c.Probability, c.Class, c.Name)
			} else {
				fmt.Fprintf(w, "  %6.2f%%  %4d\n", 100*c.Probability, c.Class)
			}
		}
	}
	return nil
}

var evalCmd = &command{
	name: "eval", args: "SPEC (--weights FILE | --random-weights SEED) DIR [--batch N] [--limit N] [--predictions FILE.csv] [--strict]", nargs: 2,
	summary: "measure top-1 and top-5 accuracy on a folder of labelled images",
	detail: `DIR is in torchvision's ImageFolder layout: one subfolder per class, the
class index being the folder's position in sorted order, and in each the
images (.jpg .jpeg .png .ppm .bmp .pgm .tif .tiff .webp, as ImageFolder
takes them; subfolders included), in sorted order. Each image is
preprocessed as the spec says; decoding runs in parallel with the forward
passes. grcc eval prints the top-1 and top-5 accuracy, the number of images
and the images per second, and shows progress on stderr.

--predictions writes a CSV with the header path,label,prediction (the path
relative to DIR, class indices), one row per image in order, to compare with
another run image by image. An image that cannot be read is reported with
its path, counted, and left out of the accuracy (its prediction is -1);
--strict stops at the first one instead.`,
	flags: func(fs *flag.FlagSet) func(*env, []string) error {
		weights := fs.String("weights", "", "checkpoint `file` to load")
		seed := fs.Int64("random-weights", -1, "use random weights from this `seed` instead of a checkpoint")
		batchSize := fs.Int("batch", 32, "images per forward pass")
		limit := fs.Int("limit", 0, "evaluate only the first `N` images")
		predictions := fs.String("predictions", "", "write per-image predictions to this `CSV` file")
		strict := fs.Bool("strict", false, "stop at the first unreadable image")
		return func(e *env, args []string) error {
			if (*weights == "") == (*seed < 0) {
				return usagef("give exactly one of --weights FILE and --random-weights SEED")
			}
			if *batchSize < 1 {
				return usagef("--batch must be at least 1")
			}
			if *limit < 0 {
				return usagef("--limit must not be negative")
			}
			m, cfg, err := imageModel(args[0])
			if err != nil {
				return err
			}
			ds, err := scanImageFolder(args[1])
			if err != nil {
				return err
			}
			if len(ds.classes) > m.Classes {
				return fmt.Errorf("%s: %d class folders, but %s has %d classes", args[1], len(ds.classes), m.Name, m.Classes)
			}
			if *limit > 0 && *limit < len(ds.images) {
				ds.images = ds.images[:*limit]
			}
			sd, name, err := stateDict(m, *weights, *seed)
			if err != nil {
				return err
			}
			fwd, err := newForward("go", m, sd, name)
			if err != nil {
				return err
			}
			r, err := evaluate(e.stderr, m, cfg, fwd, ds, *batchSize, *strict)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s: %d images, top-1 %.2f%% (%d), top-5 %.2f%% (%d), %.1f images/s\n",
				m.Name, r.evaluated, percent(r.top1, r.evaluated), r.top1, percent(r.top5, r.evaluated), r.top5,
				float64(len(ds.images))/r.elapsed.Seconds())
			if r.failed > 0 {
				fmt.Fprintf(e.stdout, "%d images could not be read (left out)\n", r.failed)
			}
			if *predictions != "" {
				return writePredictions(*predictions, ds, r.pred)
			}
			return nil
		}
	},
}

func percent(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}

// imageFolder is a labelled dataset in torchvision's ImageFolder layout.
type imageFolder struct {
	root    string
	classes []string
	images  []labelled
}

type labelled struct {
	path  string // relative to root, slash-separated
	label int
}

// imageExtensions are torchvision's IMG_EXTENSIONS, which ImageFolder takes.
var imageExtensions = []string{".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"}

// scanImageFolder lists a folder as ImageFolder does: classes are the
// subfolders in sorted order; in each, every directory below it (links
// followed) in sorted order of its path, and its image files in sorted order.
func scanImageFolder(root string) (*imageFolder, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fileError(root, err)
	}
	ds := &imageFolder{root: root}
	for _, en := range entries {
		if isDir(filepath.Join(root, en.Name())) {
			ds.classes = append(ds.classes, en.Name())
		}
	}
	if len(ds.classes) == 0 {
		return nil, fmt.Errorf("%s: no class folders; want the ImageFolder layout DIR/<class>/<image>", root)
	}
	sort.Strings(ds.classes)
	for label, class := range ds.classes {
		var dirs []string
		if err := walkDirs(filepath.Join(root, class), class, &dirs, 0); err != nil {
			return nil, err
		}
		sort.Strings(dirs)
		found := false
		for _, d := range dirs {
			entries, err := os.ReadDir(filepath.Join(root, filepath.FromSlash(d)))
			if err != nil {
				return nil, fileError(filepath.Join(root, d), err)
			}
			var files []string
			for _, en := range entries {
				name := en.Name()
				if hasImageExtension(name) && !isDir(filepath.Join(root, filepath.FromSlash(d), name)) {
					files = append(files, name)
				}
			}
			sort.Strings(files)
			for _, f := range files {
				ds.images = append(ds.images, labelled{path: d + "/" + f, label: label})
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("%s: class folder %q has no images (%s)", root, class, strings.Join(imageExtensions, " "))
		}
	}
	return ds, nil
}

func walkDirs(dir, rel string, out *[]string, depth int) error {
	if depth > 64 {
		return fmt.Errorf("%s: folders nested too deep (a link loop?)", dir)
	}
	*out = append(*out, rel)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fileError(dir, err)
	}
	for _, en := range entries {
		if isDir(filepath.Join(dir, en.Name())) {
			if err := walkDirs(filepath.Join(dir, en.Name()), rel+"/"+en.Name(), out, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

func isDir(path string) bool {
	st, err := os.Stat(path) // follows links, as ImageFolder does
	return err == nil && st.IsDir()
}

func hasImageExtension(name string) bool {
	lower := strings.ToLower(name)
	for _, ext := range imageExtensions {
		if strings.HasSuffix(lower, ext) {
			return true
		}
	}
	return false
}

// evalResult is what evaluate measured.
type evalResult struct {
	evaluated, failed, top1, top5 int
	pred                          []int // top-1 class per image, -1 when unreadable
	elapsed                       time.Duration
}

// evaluate runs the dataset through the model in batches. Worker goroutines
// decode and preprocess images ahead of the forward passes, a bounded number
// of batches ahead; results are consumed in order.
func evaluate(stderr io.Writer, m *ir.Model, cfg *imageproc.Config, fwd forwardFunc, ds *imageFolder, batchSize int, strict bool) (*evalResult, error) {
	n, il := len(ds.images), cfg.Len()
	type item struct {
		data []float32
		err  error
	}
	ready := make([]chan item, n)
	for i := range ready {
		ready[i] = make(chan item, 1)
	}
	ahead := make(chan struct{}, 4*batchSize) // bounds the images decoded but not yet run
	jobs := make(chan int)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range goruntime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				data := make([]float32, il)
				err := preprocessImage(cfg, filepath.Join(ds.root, filepath.FromSlash(ds.images[i].path)), data)
				ready[i] <- item{data, err}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for i := range n {
			select {
			case ahead <- struct{}{}:
			case <-stop:
				return
			}
			select {
			case jobs <- i:
			case <-stop:
				return
			}
		}
	}()
	defer func() {
		close(stop)
		// Workers never block on ready (each channel has room for its one
		// item), so they finish the jobs they hold and stop.
		wg.Wait()
	}()

	r := &evalResult{pred: make([]int, n)}
	prog := newProgress(stderr, n)
	start := time.Now()
	in := make([]float32, 0, batchSize*il)
	idx := make([]int, 0, batchSize)
	logits := make([]float32, batchSize*m.Classes)
	flush := func() error {
		if len(idx) == 0 {
			return nil
		}
		out := logits[:len(idx)*m.Classes]
		if err := fwd(in, out); err != nil {
			return fmt.Errorf("%s: %w", m.Source, err)
		}
		for k, i := range idx {
			row := out[k*m.Classes : (k+1)*m.Classes]
			top := runtime.TopK(row, 5)
			r.pred[i] = top[0]
			label := ds.images[i].label
			if top[0] == label {
				r.top1++
			}
			for _, c := range top {
				if c == label {
					r.top5++
				}
			}
		}
		r.evaluated += len(idx)
		in, idx = in[:0], idx[:0]
		return nil
	}
	for i := range n {
		it := <-ready[i]
		<-ahead
		if it.err != nil {
			if strict {
				return nil, it.err
			}
			prog.clear()
			fmt.Fprintln(stderr, it.err)
			r.failed++
			r.pred[i] = -1
		} else {
			in = append(in, it.data...)
			idx = append(idx, i)
		}
		if len(idx) == batchSize {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		prog.update(i + 1)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	r.elapsed = time.Since(start)
	prog.done()
	return r, nil
}

func writePredictions(path string, ds *imageFolder, pred []int) error {
	var b strings.Builder
	b.WriteString("path,label,prediction\n")
	for i, im := range ds.images {
		fmt.Fprintf(&b, "%s,%d,%d\n", csvField(im.path), im.label, pred[i])
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fileError(path, err)
	}
	return nil
}

// csvField quotes a field as RFC 4180 wants when it holds a comma, a quote
// or a line break.
func csvField(s string) string {
	if !strings.ContainsAny(s, ",\"\r\n") {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// progress reports how far a run is: a bar redrawn in place when stderr is a
// terminal, a plain line every 10 seconds otherwise.
type progress struct {
	w        io.Writer
	total    int
	terminal bool
	start    time.Time
	last     time.Time
	drawn    bool
	count    int
}

func newProgress(w io.Writer, total int) *progress {
	p := &progress{w: w, total: total, start: time.Now()}
	p.last = p.start
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.terminal = true
		}
	}
	return p
}

func (p *progress) update(done int) {
	p.count = done
	now := time.Now()
	interval := 10 * time.Second
	if p.terminal {
		interval = 200 * time.Millisecond
	}
	if now.Sub(p.last) < interval {
		return
	}
	p.last = now
	p.print(now)
}

func (p *progress) print(now time.Time) {
	elapsed := now.Sub(p.start).Seconds()
	rate := float64(p.count) / math.Max(elapsed, 1e-9)
	eta := "?"
	if rate > 0 {
		eta = time.Duration(float64(p.total-p.count) / rate * float64(time.Second)).Round(time.Second).String()
	}
	if !p.terminal {
		fmt.Fprintf(p.w, "%d/%d images, %.1f images/s, ETA %s\n", p.count, p.total, rate, eta)
		return
	}
	const width = 30
	filled := width * p.count / max(p.total, 1)
	bar := strings.Repeat("=", filled) + strings.Repeat(" ", width-filled)
	fmt.Fprintf(p.w, "\r[%s] %d/%d  %.1f images/s  ETA %s ", bar, p.count, p.total, rate, eta)
	p.drawn = true
}

// clear removes the bar before another message is printed.
func (p *progress) clear() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}

func (p *progress) done() {
	if p.terminal {
		p.print(time.Now())
		fmt.Fprintln(p.w)
	}
}
