package checkpoint

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Tensor is one state_dict entry.
//
// Floating-point data (float32, and float64, float16 and bfloat16 converted
// to float32) is in F32; integer and boolean data (int64, and int32, int16,
// int8, uint8 and bool converted to int64) is in I64. The data is contiguous
// in row-major order, whatever the strides of the tensor in the file.
//
// Entries that view the same elements of the same storage (PyTorch weight
// sharing) share one data slice: treat the data as read-only.
type Tensor struct {
	Key   string
	DType string // as PyTorch names it, without "torch.": "float32", "int64", ...
	Shape []int  // empty for a scalar
	F32   []float32
	I64   []int64

	// Storage names the storage the tensor views in the file (the storage
	// key of a PyTorch file, the tensor's own key in a safetensors file),
	// and Offset is the element offset of the view in it. Entries with the
	// same Storage share memory in the file.
	Storage string
	Offset  int
}

// Numel returns the number of elements of t: the product of its shape.
func (t *Tensor) Numel() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Len returns the number of elements held in t's data slice.
func (t *Tensor) Len() int {
	if t.F32 != nil {
		return len(t.F32)
	}
	return len(t.I64)
}

// StateDict is an ordered collection of tensors as they appear in the file.
type StateDict struct {
	Tensors []*Tensor
	index   map[string]*Tensor
}

// NewStateDict returns a StateDict of tensors, which must have distinct keys.
func NewStateDict(tensors []*Tensor) (*StateDict, error) {
	index := make(map[string]*Tensor, len(tensors))
	for _, t := range tensors {
		if _, dup := index[t.Key]; dup {
			return nil, fmt.Errorf("duplicate key %q", t.Key)
		}
		index[t.Key] = t
	}
	return &StateDict{Tensors: tensors, index: index}, nil
}

// Get returns the tensor with the given key, or nil if there is none.
func (s *StateDict) Get(key string) *Tensor {
	if s.index != nil {
		return s.index[key]
	}
	for _, t := range s.Tensors {
		if t.Key == key {
			return t
		}
	}
	return nil
}

// Release drops s's data of the tensor with the given key (its F32 becomes
// nil; the key, dtype and shape stay), so that a model that has packed the
// weights it needs from it lets its memory go. A key s lacks is ignored.
func (s *StateDict) Release(key string) {
	if t := s.Get(key); t != nil {
		t.F32 = nil
	}
}

// Keys returns the keys of s in order.
func (s *StateDict) Keys() []string {
	keys := make([]string, len(s.Tensors))
	for i, t := range s.Tensors {
		keys[i] = t.Key
	}
	return keys
}

// FormatShape formats a shape as the keys files do: "64x3x3x3", or "scalar"
// for an empty shape.
func FormatShape(shape []int) string {
	if len(shape) == 0 {
		return "scalar"
	}
	s := make([]string, len(shape))
	for i, d := range shape {
		s[i] = strconv.Itoa(d)
	}
	return strings.Join(s, "x")
}

// maxDims bounds the number of dimensions of a tensor.
const maxDims = 64

// A storage is a run of elements of one dtype in a file.
type storage struct {
	key   string
	dtype *dtype
	numel int    // as the file claims it until data is loaded
	data  []byte // numel × dtype.size bytes, once loaded
}

// A view is a tensor as the pickle describes it: a strided view of a storage.
type view struct {
	storage *storage
	offset  int
	shape   []int
	stride  []int
}

var errTooLarge = errors.New("too large")

// numel returns the number of elements of shape, or errTooLarge if it is
// more than limit.
func numel(shape []int, limit int) (int, error) {
	n := 1
	for _, d := range shape {
		if d == 0 {
			return 0, nil
		}
	}
	for _, d := range shape {
		if d > limit/n {
			return 0, errTooLarge
		}
		n *= d
	}
	return n, nil
}

// materialiser turns views into tensors, sharing the data of identical views.
type materialiser struct {
	load func(*storage) error // loads a storage's data
	done map[viewID]*Tensor   // the tensors made so far

	// budget is the number of elements that may still be materialised.
	// It bounds the memory a file can make us allocate, which views that
	// overlap or repeat elements (stride 0) could otherwise make huge.
	budget int
}

// viewID identifies a view: views with equal IDs have the same elements.
type viewID struct {
	storage       *storage
	offset        int
	shape, stride string
}

// newMaterialiser returns a materialiser for a file of size bytes, whose
// budget is twice as many elements as the file has bytes, plus some slack
// for tiny files.
func newMaterialiser(size int64, load func(*storage) error) *materialiser {
	budget := 2*int(min(size, 1<<40)) + 1<<20
	return &materialiser{load: load, done: make(map[viewID]*Tensor), budget: budget}
}

// tensor returns the tensor key as view v describes it.
func (m *materialiser) tensor(key string, v *view) (*Tensor, error) {
	s := v.storage
	id := viewID{s, v.offset, fmt.Sprint(v.shape), fmt.Sprint(v.stride)}
	if t, ok := m.done[id]; ok {
		c := *t
		c.Key = key
		return &c, nil
	}
	if err := m.load(s); err != nil {
		return nil, err
	}
	n, err := numel(v.shape, m.budget)
	if err != nil {
		return nil, fmt.Errorf("tensor %q of shape %s is larger than the file allows", key, FormatShape(v.shape))
	}
	if n > 0 {
		// The last element the view reaches must lie in the storage.
		last := v.offset
		for i, d := range v.shape {
			if v.stride[i] > 0 && d-1 > (s.numel-1-last)/v.stride[i] {
				last = s.numel // beyond, without overflowing
				break
			}
			last += (d - 1) * v.stride[i]
		}
		if last >= s.numel {
			return nil, fmt.Errorf("tensor %q (shape %s, strides %v, offset %d) reaches beyond its storage %q of %d elements",
				key, FormatShape(v.shape), v.stride, v.offset, s.key, s.numel)
		}
	}
	m.budget -= n
	t := &Tensor{Key: key, DType: s.dtype.name, Shape: v.shape, Storage: s.key, Offset: v.offset}
	gather(t, s, v, n)
	m.done[id] = t
	return t, nil
}

// gather copies the n elements of view v of storage s into t, in row-major order.
func gather(t *Tensor, s *storage, v *view, n int) {
	dt := s.dtype
	if dt.float {
		t.F32 = make([]float32, n)
	} else {
		t.I64 = make([]int64, n)
	}
	index := make([]int, len(v.shape))
	pos := v.offset
	for i := range n {
		b := s.data[pos*dt.size:]
		if dt.float {
			t.F32[i] = dt.toF32(b)
		} else {
			t.I64[i] = dt.toI64(b)
		}
		// Step the index like an odometer, last dimension fastest.
		for d := len(index) - 1; d >= 0; d-- {
			index[d]++
			pos += v.stride[d]
			if index[d] < v.shape[d] {
				break
			}
			pos -= v.stride[d] * v.shape[d]
			index[d] = 0
		}
	}
}
