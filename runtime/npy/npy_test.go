package npy

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"codeberg.org/sbinet/npyio/npy"
)

// The fixtures in testdata are made by testdata/make_fixtures.py with NumPy.

// quarters returns 0, 0.25, 0.5, ... (n values).
func quarters(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(i) / 4
	}
	return v
}

func TestReadFloat32(t *testing.T) {
	tests := []struct {
		file  string
		data  []float32
		shape []int
	}{
		{"f32.npy", quarters(24), []int{2, 3, 4}},
		{"v2.npy", quarters(24), []int{2, 3, 4}},
		{"f64.npy", []float32{0, 0.1, 0.2, 0.3, 0.4}, []int{5}},
		{"big_endian.npy", quarters(6), []int{2, 3}},
		{"scalar.npy", []float32{2.5}, []int{}},
		{"empty.npy", []float32{}, []int{0, 3}},
	}
	for _, tt := range tests {
		data, shape, err := ReadFloat32(filepath.Join("testdata", tt.file))
		if err != nil {
			t.Errorf("%s: %v", tt.file, err)
			continue
		}
		if !slices.Equal(data, tt.data) || !slices.Equal(shape, tt.shape) || shape == nil {
			t.Errorf("%s: %v %v, want %v %v", tt.file, shape, data, tt.shape, tt.data)
		}
	}
}

func TestReadReference(t *testing.T) {
	data, shape, err := ReadFloat32("testdata/tiny_cifar.input.npy")
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, v := range data {
		sum += float64(v)
	}
	if !slices.Equal(shape, []int{2, 3, 32, 32}) || data[0] != -0.5595841407775879 || math.Abs(sum+95.71646177305593) > 1e-9 {
		t.Errorf("shape %v, first %v, sum %v", shape, data[0], sum)
	}
}

func TestWriteFloat32(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		data  []float32
		shape []int
	}{
		{quarters(24), []int{2, 3, 4}},
		{[]float32{1, float32(math.Inf(-1)), -0}, []int{3}},
		{[]float32{7}, []int{}},
		{[]float32{}, []int{4, 0}},
		{quarters(1000), []int{10, 10, 10}},
	}
	for i, tt := range tests {
		path := filepath.Join(dir, "a.npy")
		if err := WriteFloat32(path, tt.data, tt.shape); err != nil {
			t.Fatal(err)
		}
		data, shape, err := ReadFloat32(path)
		if err != nil || !slices.Equal(data, tt.data) || !slices.Equal(shape, tt.shape) {
			t.Errorf("%d: read back %v %v %v", i, shape, data, err)
		}
	}
	// The header is NumPy's, byte for byte.
	b, err := Encode(quarters(24), []int{2, 3, 4})
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/f32.npy")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("Encode gives\n%q\nNumPy writes\n%q", b, want)
	}
}

func TestNpyio(t *testing.T) {
	// Files written by npyio read back here, and the other way round.
	var buf bytes.Buffer
	if err := npy.Write(&buf, []float32{1, 2, 3.5}); err != nil {
		t.Fatal(err)
	}
	data, shape, err := Decode(buf.Bytes())
	if err != nil || !slices.Equal(data, []float32{1, 2, 3.5}) || !slices.Equal(shape, []int{3}) {
		t.Errorf("Decode(npyio) = %v %v %v", data, shape, err)
	}
	b, err := Encode(quarters(6), []int{6})
	if err != nil {
		t.Fatal(err)
	}
	var back []float32
	if err := npy.Read(bytes.NewReader(b), &back); err != nil || !slices.Equal(back, quarters(6)) {
		t.Errorf("npyio read %v, %v", back, err)
	}
}

func TestErrors(t *testing.T) {
	f32, err := os.ReadFile("testdata/f32.npy")
	if err != nil {
		t.Fatal(err)
	}
	header := func(h string) string {
		return "\x93NUMPY\x01\x00" + string([]byte{byte(len(h)), 0}) + h
	}
	files := map[string]string{
		"fortran.npy":   "testdata/fortran.npy: the array is in Fortran order; save it in C order (numpy.ascontiguousarray)",
		"int64.npy":     `testdata/int64.npy: dtype "<i8" is not supported (want float32 or float64)`,
		"missing.npy":   "open testdata/missing.npy: no such file or directory",
		"truncated.npy": "testdata/truncated.npy: shape [2 3 4] does not match the 95 bytes of data",
	}
	inputs := map[string]string{
		"empty":      "",
		"text":       "hello",
		"version":    "\x93NUMPY\x04\x00",
		"short":      "\x93NUMPY\x01\x00\xff\x00{'descr'",
		"no shape":   header("{'descr': '<f4', 'fortran_order': False, }\n"),
		"bad shape":  header("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }\n"),
		"huge shape": header("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000, 1000000000000), }\n") + "abcd",
	}
	wants := map[string]string{
		"empty":      "not a .npy file",
		"text":       "not a .npy file",
		"version":    ".npy format version 4 is not supported",
		"short":      "truncated header",
		"no shape":   `malformed header "{'descr': '<f4', 'fortran_order': False, }\n"`,
		"bad shape":  "malformed shape (-1,)",
		"huge shape": "shape [1000000000000 1000000000000] does not match the 4 bytes of data",
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "truncated.npy"), f32[:len(f32)-1], 0o666); err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		path := filepath.Join("testdata", name)
		if name == "truncated.npy" {
			path = filepath.Join(dir, name)
			want = strings.Replace(want, "testdata", dir, 1)
		}
		if _, _, err := ReadFloat32(path); err == nil || err.Error() != want {
			t.Errorf("ReadFloat32(%s) = %v\nwant %s", name, err, want)
		}
	}
	for name, in := range inputs {
		if _, _, err := Decode([]byte(in)); err == nil || err.Error() != wants[name] {
			t.Errorf("Decode(%s) = %v\nwant %s", name, err, wants[name])
		}
	}
	path := filepath.Join(dir, "x.npy")
	if err := WriteFloat32(path, []float32{1, 2}, []int{3}); err == nil || err.Error() != path+": shape [3] does not match the 2 elements of data" {
		t.Errorf("WriteFloat32 with a wrong shape: %v", err)
	}
	if err := WriteFloat32(path, nil, []int{-1}); err == nil || err.Error() != path+": negative dimension in shape [-1]" {
		t.Errorf("WriteFloat32 with a negative shape: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.npy")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		data, shape, err := Decode(b)
		if err != nil {
			return
		}
		if len(data) != count(shape, len(data)) {
			t.Fatalf("shape %v, %d elements", shape, len(data))
		}
	})
}
