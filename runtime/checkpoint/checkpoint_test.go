package checkpoint

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The fixtures in testdata are made by testdata/make_fixtures.py; the .json
// files hold what PyTorch reads from them.

// wantTensor is a tensor as a fixture's .json file describes it.
type wantTensor struct {
	Key    string
	DType  string
	Shape  []int
	Values []float64 // all values, or
	Head   []float64 // the first few values and
	Sum    float64   // the sum of all
}

func readJSON(t *testing.T, name string) []wantTensor {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var want []wantTensor
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	return want
}

func load(t *testing.T, name string) *StateDict {
	t.Helper()
	sd, err := Load(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return sd
}

// values returns the data of tensor g as float64s.
func values(g *Tensor) []float64 {
	var v []float64
	for _, x := range g.F32 {
		v = append(v, float64(x))
	}
	for _, x := range g.I64 {
		v = append(v, float64(x))
	}
	return v
}

// checkTensors compares sd with want: keys in order, dtypes, shapes and values.
func checkTensors(t *testing.T, name string, sd *StateDict, want []wantTensor) {
	t.Helper()
	if got, w := sd.Keys(), keysOf(want); !slices.Equal(got, w) {
		t.Fatalf("%s: keys\n%q\nwant\n%q", name, got, w)
	}
	for i, w := range want {
		g := sd.Tensors[i]
		if g != sd.Get(w.Key) {
			t.Errorf("%s: Get(%q) is not the tensor in Tensors", name, w.Key)
		}
		if g.DType != w.DType || !slices.Equal(g.Shape, w.Shape) || g.Shape == nil {
			t.Errorf("%s: %q is %s %v, want %s %v", name, w.Key, g.DType, g.Shape, w.DType, w.Shape)
			continue
		}
		isFloat := w.DType == "float32" || w.DType == "float64" || w.DType == "float16" || w.DType == "bfloat16"
		if isFloat && (g.F32 == nil || g.I64 != nil) || !isFloat && (g.I64 == nil || g.F32 != nil) {
			t.Errorf("%s: %q holds its data in the wrong slice", name, w.Key)
		}
		got := values(g)
		if g.Len() != g.Numel() {
			t.Errorf("%s: %q holds %d elements, want %d", name, w.Key, g.Len(), g.Numel())
		}
		if w.Values != nil && !slices.Equal(got, w.Values) {
			t.Errorf("%s: %q = %v, want %v", name, w.Key, got, w.Values)
		}
		if w.Head != nil {
			if !slices.Equal(got[:len(w.Head)], w.Head) {
				t.Errorf("%s: %q starts %v, want %v", name, w.Key, got[:len(w.Head)], w.Head)
			}
			sum := 0.0
			for _, v := range got {
				sum += v
			}
			if math.Abs(sum-w.Sum) > 1e-9*(1+math.Abs(w.Sum)) {
				t.Errorf("%s: %q sums to %v, want %v", name, w.Key, sum, w.Sum)
			}
		}
	}
}

func keysOf(want []wantTensor) []string {
	var keys []string
	for _, w := range want {
		keys = append(keys, w.Key)
	}
	return keys
}

func TestReferenceCheckpoint(t *testing.T) {
	sd := load(t, "tiny_cifar.pt")
	want := readJSON(t, "tiny_cifar.json")
	checkTensors(t, "tiny_cifar.pt", sd, want)
	if len(sd.Tensors) != 190 {
		t.Errorf("%d tensors, want 190", len(sd.Tensors))
	}
	if err := Validate("tiny_cifar.pt", sd, params(want), nil); err != nil {
		t.Error(err)
	}
}

func TestDTypes(t *testing.T) {
	want := readJSON(t, "dtypes.json")
	for _, name := range []string{"dtypes.pt", "dtypes_legacy.pt", "dtypes_proto4.pt", "dtypes_legacy_proto4.pt"} {
		checkTensors(t, name, load(t, name), want)
	}
}

func TestTrainingCheckpoint(t *testing.T) {
	want := readJSON(t, "train.json")
	for _, name := range []string{"train.pt", "train_legacy.pt", "namespace.pt"} {
		checkTensors(t, name, load(t, name), want)
	}
}

func TestSharedStorage(t *testing.T) {
	sd := load(t, "shared.pt")
	checkTensors(t, "shared.pt", sd, readJSON(t, "shared.json"))
	a, b, v, row := sd.Get("a.weight"), sd.Get("b.weight"), sd.Get("v"), sd.Get("v_row1")
	if a.Storage != b.Storage || a.Offset != 0 || b.Offset != 0 {
		t.Errorf("a.weight in %q at %d, b.weight in %q at %d; want the same storage at 0", a.Storage, a.Offset, b.Storage, b.Offset)
	}
	if &a.F32[0] != &b.F32[0] {
		t.Error("a.weight and b.weight do not share their data")
	}
	if a.Storage == v.Storage {
		t.Errorf("a.weight and v share storage %q", a.Storage)
	}
	if row.Storage != v.Storage || row.Offset != 3 {
		t.Errorf("v_row1 in %q at %d; want %q at 3", row.Storage, row.Offset, v.Storage)
	}
}

func TestViews(t *testing.T) {
	checkTensors(t, "views.pt", load(t, "views.pt"), readJSON(t, "views.json"))
}

func TestSafetensors(t *testing.T) {
	// Written as the Rust library lays files out: data sorted by dtype
	// alignment, then name.
	checkTensors(t, "small.safetensors", load(t, "small.safetensors"), readJSON(t, "small_safetensors.json"))
}

func TestSafetensorsRoundTrip(t *testing.T) {
	for _, name := range []string{"tiny_cifar.pt", "dtypes.pt", "views.pt", "shared.pt", "train_legacy.pt"} {
		sd := load(t, name)
		var buf bytes.Buffer
		if err := WriteSafetensors(&buf, sd); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkHeader(t, name, buf.Bytes())
		back, err := Read(bytes.NewReader(buf.Bytes()), int64(buf.Len()), name+".safetensors")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !slices.Equal(back.Keys(), sd.Keys()) {
			t.Fatalf("%s: keys %q, want %q", name, back.Keys(), sd.Keys())
		}
		for i, g := range back.Tensors {
			w := sd.Tensors[i]
			if g.DType != w.DType || !slices.Equal(g.Shape, w.Shape) || !sameValues(g, w) {
				t.Errorf("%s: %q is %s %v %v, want %s %v %v", name, w.Key, g.DType, g.Shape, values(g), w.DType, w.Shape, values(w))
			}
			if g.Storage != g.Key || g.Offset != 0 {
				t.Errorf("%s: %q in storage %q at %d", name, g.Key, g.Storage, g.Offset)
			}
		}
	}
}

// checkHeader checks that a safetensors file has its header keys sorted, a
// "__metadata__" entry and its data 8-byte aligned.
func checkHeader(t *testing.T, name string, file []byte) {
	t.Helper()
	n := int(le.Uint64(file))
	if (8+n)%8 != 0 {
		t.Errorf("%s: header of %d bytes", name, n)
	}
	dec := json.NewDecoder(bytes.NewReader(file[8 : 8+n]))
	dec.Token() // {
	var keys []string
	for dec.More() {
		key, _ := dec.Token()
		keys = append(keys, key.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.IsSorted(keys) || !slices.Contains(keys, "__metadata__") {
		t.Errorf("%s: header keys %q", name, keys)
	}
}

func TestWriteSafetensorsErrors(t *testing.T) {
	tests := []struct {
		t    *Tensor
		want string
	}{
		{&Tensor{Key: "x", DType: "complex64", Shape: []int{1}}, `tensor "x" has unsupported dtype "complex64"`},
		{&Tensor{Key: "x", DType: "float32", Shape: []int{2, 2}, F32: []float32{1, 2, 3}}, `tensor "x" of shape 2x2 holds 3 elements`},
		{&Tensor{Key: "x", DType: "int64", Shape: []int{}, F32: []float32{1}}, `tensor "x" of shape scalar holds 1 elements`},
		{&Tensor{Key: "__metadata__", DType: "int64", Shape: []int{}, I64: []int64{1}}, `key "__metadata__" is reserved in safetensors`},
	}
	for _, tt := range tests {
		err := WriteSafetensors(io.Discard, &StateDict{Tensors: []*Tensor{tt.t}})
		if err == nil || err.Error() != tt.want {
			t.Errorf("WriteSafetensors(%q) = %v, want %s", tt.t.Key, err, tt.want)
		}
	}
}

func TestRefused(t *testing.T) {
	tests := map[string]string{
		"evil.pt":        `testdata/evil.pt: refusing to load: pickle references "posix.system", which a state_dict never needs`,
		"evil_legacy.pt": `testdata/evil_legacy.pt: refusing to load: pickle references "posix.system", which a state_dict never needs`,
		"evil_eval.pt":   `testdata/evil_eval.pt: refusing to load: pickle references "__builtin__.eval", which a state_dict never needs`,
	}
	for name, want := range tests {
		_, err := Load("testdata/" + name)
		if err == nil || err.Error() != want {
			t.Errorf("Load(%s) = %v, want %s", name, err, want)
		}
		var re *RefusedError
		if !errors.As(err, &re) {
			t.Errorf("Load(%s): %v is not a *RefusedError", name, err)
		}
	}
}

func TestMalformed(t *testing.T) {
	tests := map[string]string{
		"bigshape.pt":        `tensor "w" of shape 1000000000000 is larger than the file allows`,
		"hugeshape.pt":       `tensor "w" of shape 1000000x1000000x1000000x1000000 is larger than the file allows`,
		"negshape.pt":        `tensor shape has element -1`,
		"offset.pt":          `tensor "w" (shape 2, strides [1], offset 3) reaches beyond its storage "0" of 4 elements`,
		"stride.pt":          `tensor "w" (shape 2x2, strides [3 1], offset 0) reaches beyond its storage "0" of 4 elements`,
		"bignumel.pt":        `storage "0": record archive/data/0 holds 16 bytes, not 1000000000000 float32 elements`,
		"shortrecord.pt":     `storage "0": record archive/data/0 holds 16 bytes, not 8 float32 elements`,
		"missingrecord.pt":   `storage "1": record archive/data/1 is missing`,
		"legacy_bigcount.pt": `storage "9": file truncated (1000000000000 float32 elements, 16 bytes left)`,
	}
	for name, want := range tests {
		_, err := Load("testdata/" + name)
		if want = "testdata/" + name + ": " + want; err == nil || err.Error() != want {
			t.Errorf("Load(%s) = %v\nwant %s", name, err, want)
		}
	}
}

// zipOf returns a zip archive of the given records, compressed or not.
func zipOf(t *testing.T, method uint16, records map[string]string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(records)) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method})
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, records[name])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// records returns the records of a zip fixture.
func records(t *testing.T, name string) map[string]string {
	zr, err := zip.OpenReader(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	recs := make(map[string]string)
	for _, f := range zr.File {
		rc, _ := f.Open()
		b, _ := io.ReadAll(rc)
		recs[f.Name] = string(b)
	}
	return recs
}

func TestNotACheckpoint(t *testing.T) {
	dtypes := records(t, "dtypes.pt")
	torchScript := records(t, "dtypes.pt")
	torchScript["dtypes/constants.pkl"] = ""
	bigEndian := records(t, "dtypes.pt")
	bigEndian["dtypes/byteorder"] = "big"
	withModule := records(t, "dtypes.pt")
	withModule["dtypes/data.pkl"] = "\x80\x02(X\x06\x00\x00\x00moduleX\x01\x00\x00\x00mtQ."
	tests := []struct {
		name, data, want string
	}{
		{"empty", "", "not a PyTorch or safetensors checkpoint"},
		{"text", "hello, world\n", "not a PyTorch or safetensors checkpoint"},
		{"pickle", "\x80\x02K\x01.", "a pickle, but not a PyTorch checkpoint (no magic number)"},
		{"list", "\x80\x02]q\x00.", "a pickle, but not a PyTorch checkpoint (no magic number)"},
		{"zip", string(zipOf(t, zip.Store, map[string]string{"a/b": "c"})), "zip archive without a data.pkl record: not a PyTorch checkpoint"},
		{"deflated", string(zipOf(t, zip.Deflate, dtypes)), "record dtypes/data.pkl is compressed; PyTorch writes records uncompressed"},
		{"torchscript", string(zipOf(t, zip.Store, torchScript)), "the file is a TorchScript archive (torch.jit.save), not a state_dict saved with torch.save"},
		{"bigendian", string(zipOf(t, zip.Store, bigEndian)), `byte order "big" is not supported`},
		{"module", string(zipOf(t, zip.Store, withModule)), "the file holds a pickled module, not a state_dict (save model.state_dict() instead)"},
		{"safetensors", "\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":{}}        ", `tensor "a" has unsupported dtype ""`},
		{"safetensors gap", "\x08\x00\x00\x00\x00\x00\x00\x00{}      x", "safetensors data has 1 bytes after its last tensor"},
	}
	for _, tt := range tests {
		_, err := Read(strings.NewReader(tt.data), int64(len(tt.data)), tt.name)
		if want := tt.name + ": " + tt.want; err == nil || err.Error() != want {
			t.Errorf("Read(%s) = %v\nwant %s", tt.name, err, want)
		}
	}
	if _, err := Load("testdata/nonexistent.pt"); err == nil || !strings.Contains(err.Error(), "testdata/nonexistent.pt") {
		t.Errorf("Load(nonexistent) = %v", err)
	}
}

// fixtures returns the names of the checkpoint files in testdata.
func fixtures(t testing.TB) []string {
	var names []string
	for _, pattern := range []string{"*.pt", "*.safetensors"} {
		m, err := filepath.Glob(filepath.Join("testdata", pattern))
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, m...)
	}
	return names
}

func TestTruncated(t *testing.T) {
	for _, name := range fixtures(t) {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		// Every length for small files, a spread of lengths for large ones.
		step := max(1, len(data)/2000)
		for n := 0; n < len(data); n += step {
			if _, err := Read(bytes.NewReader(data[:n]), int64(n), name); err == nil {
				t.Errorf("%s cut to %d bytes: no error", name, n)
			}
		}
	}
}

func TestCorrupt(t *testing.T) {
	// Flipping a byte anywhere in a legacy file, which has no checksums,
	// gives a different state_dict or an error, never a panic.
	for _, name := range []string{"testdata/dtypes_legacy.pt", "testdata/train_legacy.pt", "testdata/small.safetensors"} {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for i := range data {
			c := slices.Clone(data)
			c[i] ^= []byte{0x01, 0x80, 0xff}[i%3]
			Read(bytes.NewReader(c), int64(len(c)), name)
		}
	}
}

// params returns the params of the tensors described by want.
func params(want []wantTensor) []Param {
	var ps []Param
	for _, w := range want {
		ps = append(ps, Param{Key: w.Key, DType: w.DType, Shape: w.Shape})
	}
	return ps
}

func TestValidate(t *testing.T) {
	sd := load(t, "shared.pt") // a.weight, b.weight: 2x3 (shared); v: 2x3; v_row1: 3
	f32 := "float32"
	ok := []Param{
		{Key: "a.weight", DType: f32, Shape: []int{2, 3}},
		{Key: "b.weight", DType: f32, Shape: []int{2, 3}, SharedWith: "a.weight"},
		{Key: "v", DType: f32, Shape: []int{2, 3}},
		{Key: "v_row1", DType: f32, Shape: []int{3}},
		{Key: "bn.num_batches_tracked", DType: "int64", Shape: []int{}},
	}
	if err := Validate("shared.pt", sd, ok, nil); err != nil {
		t.Errorf("Validate: %v", err)
	}
	replace := func(i int, p Param) []Param {
		ps := slices.Clone(ok)
		ps[i] = p
		return ps
	}
	withBatches := &StateDict{Tensors: append(slices.Clone(sd.Tensors),
		&Tensor{Key: "x.num_batches_tracked", DType: "int64", Shape: []int{}, I64: []int64{3}})}

	tests := []struct {
		name   string
		sd     *StateDict
		want   []Param
		unused []string
		err    string
	}{
		{"missing", sd, append(slices.Clone(ok), Param{Key: "c.weight", DType: f32, Shape: []int{1}}), nil,
			`f.pt: "c.weight": missing`},
		{"shape", sd, replace(3, Param{Key: "v_row1", DType: f32, Shape: []int{1, 3}}), nil,
			`f.pt: "v_row1": shape 3, want 1x3`},
		{"dtype", sd, replace(2, Param{Key: "v", DType: "float64", Shape: []int{2, 3}}), nil,
			`f.pt: "v": dtype float32, want float64`},
		{"dtype and shape", sd, replace(2, Param{Key: "v", DType: "int64", Shape: []int{}}), nil,
			`f.pt: "v": dtype float32, want int64, shape 2x3, want scalar`},
		{"unexpected", sd, ok[:3], nil,
			`f.pt: "v_row1": unexpected`},
		{"unused", sd, ok[:3], []string{"v_row1"}, ""},
		{"num_batches_tracked present", withBatches, ok, nil, ""},
		{"shared differ", sd, replace(2, Param{Key: "v", DType: f32, Shape: []int{2, 3}, SharedWith: "a.weight"}), nil,
			`f.pt: "v": differs from "a.weight", which it shares its tensor with`},
		{"several", sd, []Param{
			{Key: "a.weight", DType: f32, Shape: []int{3, 2}},
			{Key: "m1", DType: f32}, {Key: "m2", DType: f32}, {Key: "m3", DType: f32}, {Key: "m4", DType: f32},
		}, nil,
			`f.pt: "a.weight": shape 2x3, want 3x2; "m1": missing; "m2": missing; "m3": missing; "m4": missing; and 3 more`},
	}
	for _, tt := range tests {
		err := Validate("f.pt", tt.sd, tt.want, tt.unused)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.err {
			t.Errorf("%s: Validate = %q\nwant %q", tt.name, got, tt.err)
		}
	}
	err := Validate("f.pt", sd, ok[:2], nil)
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 2 {
		t.Errorf("Validate = %#v, want a *ValidationError with 2 problems", err)
	}
}

func TestHalfConversion(t *testing.T) {
	// Every half-precision number converts to float32 and back unchanged.
	for h := range 1 << 16 {
		f := halfToFloat32(uint16(h))
		if back := float32ToHalf(f); back != uint16(h) && f == f {
			t.Fatalf("half %#04x -> %v -> %#04x", h, f, back)
		}
	}
	tests := []struct {
		f    float32
		want uint16
	}{
		{1, 0x3c00}, {-2, 0xc000}, {65504, 0x7bff}, {65520, 0x7c00}, {1e-8, 0},
		{5.960464477539063e-08, 0x0001}, {1 + 1.0/2048, 0x3c00}, {1 + 3.0/2048, 0x3c02},
	}
	for _, tt := range tests {
		if got := float32ToHalf(tt.f); got != tt.want {
			t.Errorf("float32ToHalf(%v) = %#04x, want %#04x", tt.f, got, tt.want)
		}
	}
	if got := float32ToBFloat16(1 + 1.0/256); got != 0x3f80 {
		t.Errorf("float32ToBFloat16(1+2⁻⁸) = %#04x, want 0x3f80", got)
	}
}

func FuzzRead(f *testing.F) {
	for _, name := range fixtures(f) {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		if len(data) < 64<<10 {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sd, err := Read(bytes.NewReader(data), int64(len(data)), "fuzz")
		if err != nil {
			return
		}
		for _, tensor := range sd.Tensors {
			if tensor.Len() != tensor.Numel() {
				t.Fatalf("%q of shape %v holds %d elements", tensor.Key, tensor.Shape, tensor.Len())
			}
		}
		if err := WriteSafetensors(io.Discard, sd); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzPickle fuzzes the decoding of a state_dict's pickle, which FuzzRead
// reaches rarely through the checksums of zip records.
func FuzzPickle(f *testing.F) {
	for _, name := range fixtures(f) {
		if !strings.HasSuffix(name, ".pt") {
			continue
		}
		zr, err := zip.OpenReader(name)
		if err != nil {
			continue // legacy format
		}
		for _, file := range zr.File {
			if strings.HasSuffix(file.Name, "/data.pkl") && file.UncompressedSize64 < 64<<10 {
				rc, _ := file.Open()
				b, _ := io.ReadAll(rc)
				f.Add(b)
			}
		}
		zr.Close()
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		u := newUnpickler(false)
		obj, _, err := u.load(data)
		if err != nil {
			return
		}
		views, err := findStateDict(obj)
		if err != nil {
			return
		}
		// Give every storage zeros, as many bytes as it claims, if few.
		load := func(s *storage) error {
			if s.numel > 1<<16 {
				return errors.New("large")
			}
			s.data = make([]byte, s.numel*s.dtype.size)
			return nil
		}
		newStateDict(views, newMaterialiser(int64(len(data)), load))
	})
}

func TestCorruptPickle(t *testing.T) {
	const od = "ccollections\nOrderedDict\n)R" // OrderedDict()
	tests := []struct {
		name, pickle, want string
	}{
		{"unknown opcode", "\x80\x02\xff.", "corrupt pickle: unknown opcode 0xff at byte 2"},
		{"no stop", "\x80\x02K\x01", "corrupt pickle: pickle ends before its STOP opcode"},
		{"huge string", "\x80\x04\x8d\xff\xff\xff\xff\xff\xff\xff\x7fabc.", "corrupt pickle: opcode 0x8d at byte 2 claims 9223372036854775807 bytes, but 4 remain"},
		{"huge frame", "\x80\x04\x95\x00\x00\x00\x00\x00\x00\x01\x00K\x01.", "corrupt pickle: frame at byte 2 claims 281474976710656 bytes, but 3 remain"},
		{"huge long", "\x80\x02\x8b\x00\x00\x01\x00" + strings.Repeat("\x01", 1<<16) + ".", "corrupt pickle: integer of 65536 bytes at byte 2"},
		{"too long", "\x80\x02" + strings.Repeat("N", 17<<20) + ".", "corrupt pickle: pickle longer than 16 MiB"},
		{"deep marks", "\x80\x02" + strings.Repeat("(", 300) + ".", "corrupt pickle: more than 256 nested marks"},
		{"long line", "\x80\x02cmod\n" + strings.Repeat("x", 1<<17) + "\n.", "corrupt pickle: opcode 0x63 at byte 2 lacks a line of at most 65536 bytes"},
		{"odd dict", "\x80\x02(K\x01d.", "corrupt pickle: runtime error: index out of range [1] with length 1"},
		{"unhashable key", "\x80\x02" + od + "C\x01xK\x01s.", "corrupt pickle: hash of unhashable type: []uint8"},
		{"empty stack", "\x80\x02R.", "corrupt pickle: the stack is empty"},
		{"refused", "\x80\x02cbuiltins\nexec\n.", `refusing to load: pickle references "builtins.exec", which a state_dict never needs`},
		{"bad tensor", "\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(K\x01K\x02K\x03K\x04tR.", "tensor rebuilt from an int, not a storage"},
		{"bad storage", "\x80\x02(X\x07\x00\x00\x00storageK\x01K\x02K\x03K\x04tQ.", "malformed storage reference (int, 2, 4)"},
	}
	for _, tt := range tests {
		_, _, err := newUnpickler(false).load([]byte(tt.pickle))
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s: %v\nwant %s", tt.name, err, tt.want)
		}
	}
}
