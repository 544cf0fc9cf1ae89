package checkpoint

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"slices"
)

// The safetensors format: an 8-byte little-endian header length, a JSON
// header mapping each tensor name to its dtype, shape and data_offsets
// (begin and end in the data that follows the header) with an optional
// "__metadata__" map of strings, then the data, every tensor contiguous,
// little-endian, stored once, with no gaps.

// maxSafetensorsHeader bounds the header, as the reference implementation does.
const maxSafetensorsHeader = 100 << 20

const metadataKey = "__metadata__"

// safetensorsEntry is a tensor's entry in the header.
type safetensorsEntry struct {
	DType   string  `json:"dtype"`
	Shape   []int   `json:"shape"`
	Offsets []int64 `json:"data_offsets"`
}

// readSafetensors reads a safetensors file. The tensors are in the order of
// their data in the file.
func readSafetensors(r io.ReaderAt, size int64) (*StateDict, error) {
	var lenBuf [8]byte
	if n, err := r.ReadAt(lenBuf[:], 0); n < len(lenBuf) {
		return nil, err
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > uint64(size-8) || n > maxSafetensorsHeader {
		return nil, fmt.Errorf("safetensors header of %d bytes does not fit the file", n)
	}
	header := make([]byte, n)
	if m, err := r.ReadAt(header, 8); m < len(header) {
		return nil, err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(header, &raw); err != nil {
		return nil, fmt.Errorf("safetensors header: %w", err)
	}
	dataStart := 8 + int64(n)
	dataLen := size - dataStart

	type tensorAt struct {
		key        string
		dtype      *dtype
		shape      []int
		begin, end int64
	}
	var ts []tensorAt
	for key, msg := range raw {
		if key == metadataKey {
			continue
		}
		var e safetensorsEntry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, fmt.Errorf("safetensors header entry %q: %w", key, err)
		}
		dt := dtypeOfSafetensors(e.DType)
		if dt == nil {
			return nil, fmt.Errorf("tensor %q has unsupported dtype %q", key, e.DType)
		}
		if len(e.Offsets) != 2 || e.Offsets[0] < 0 || e.Offsets[0] > e.Offsets[1] || e.Offsets[1] > dataLen {
			return nil, fmt.Errorf("tensor %q has data_offsets %v outside the %d bytes of data", key, e.Offsets, dataLen)
		}
		if len(e.Shape) > maxDims || slices.ContainsFunc(e.Shape, func(d int) bool { return d < 0 }) {
			return nil, fmt.Errorf("tensor %q has invalid shape %v", key, e.Shape)
		}
		nbytes := e.Offsets[1] - e.Offsets[0]
		count, err := numel(e.Shape, int(nbytes)/dt.size)
		if err != nil || int64(count*dt.size) != nbytes {
			return nil, fmt.Errorf("tensor %q of shape %v and dtype %s does not fill its %d bytes", key, e.Shape, dt.name, nbytes)
		}
		if e.Shape == nil {
			e.Shape = []int{}
		}
		ts = append(ts, tensorAt{key, dt, e.Shape, e.Offsets[0], e.Offsets[1]})
	}
	slices.SortFunc(ts, func(a, b tensorAt) int {
		return cmp.Or(cmp.Compare(a.begin, b.begin), cmp.Compare(a.end, b.end), cmp.Compare(a.key, b.key))
	})
	var end int64
	for _, t := range ts {
		if t.begin != end {
			return nil, fmt.Errorf("tensor %q overlaps another or leaves a gap before it in the data", t.key)
		}
		end = t.end
	}
	if end != dataLen {
		return nil, fmt.Errorf("safetensors data has %d bytes after its last tensor", dataLen-end)
	}

	tensors := make([]*Tensor, len(ts))
	for i, t := range ts {
		data := make([]byte, t.end-t.begin)
		if n, err := r.ReadAt(data, dataStart+t.begin); n < len(data) {
			return nil, fmt.Errorf("tensor %q: %w", t.key, err)
		}
		s := &storage{key: t.key, dtype: t.dtype, numel: len(data) / t.dtype.size, data: data}
		v := &view{storage: s, shape: t.shape, stride: contiguousStrides(t.shape)}
		tensors[i] = &Tensor{Key: t.key, DType: t.dtype.name, Shape: t.shape, Storage: t.key}
		gather(tensors[i], s, v, s.numel)
	}
	return NewStateDict(tensors)
}

// contiguousStrides returns the strides of a contiguous row-major tensor of
// the given shape.
func contiguousStrides(shape []int) []int {
	strides := make([]int, len(shape))
	n := 1
	for i := len(shape) - 1; i >= 0; i-- {
		strides[i] = n
		n *= shape[i]
	}
	return strides
}

// WriteSafetensors writes sd in safetensors format. The header maps keys in
// sorted order (as JSON encoding does) with "__metadata__" {"format": "pt"};
// the data of the tensors follows in the order of sd, so that reading the
// file gives them in that order. Each entry's data is written once for its
// key, whether or not it shares storage with another: safetensors has no
// aliasing.
func WriteSafetensors(w io.Writer, sd *StateDict) error {
	header := map[string]any{metadataKey: map[string]string{"format": "pt"}}
	dts := make([]*dtype, len(sd.Tensors))
	var offset int64
	for i, t := range sd.Tensors {
		dt := dtypeNamed(t.DType)
		if dt == nil {
			return fmt.Errorf("tensor %q has unsupported dtype %q", t.Key, t.DType)
		}
		if t.Key == metadataKey {
			return fmt.Errorf("key %q is reserved in safetensors", t.Key)
		}
		if _, dup := header[t.Key]; dup {
			return fmt.Errorf("duplicate key %q", t.Key)
		}
		if slices.ContainsFunc(t.Shape, func(d int) bool { return d < 0 }) {
			return fmt.Errorf("tensor %q has invalid shape %v", t.Key, t.Shape)
		}
		n := t.Numel()
		if dt.float && len(t.F32) != n || !dt.float && len(t.I64) != n {
			return fmt.Errorf("tensor %q of shape %s holds %d elements", t.Key, FormatShape(t.Shape), t.Len())
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		nbytes := int64(n * dt.size)
		header[t.Key] = safetensorsEntry{dt.safetensors, shape, []int64{offset, offset + nbytes}}
		offset += nbytes
		dts[i] = dt
	}
	js, err := json.Marshal(header)
	if err != nil {
		return err
	}
	// Pad the header with spaces so that the data is 8-byte aligned.
	js = append(js, bytes.Repeat([]byte{' '}, (8-len(js)%8)%8)...)

	bw := bufio.NewWriter(w)
	if err := binary.Write(bw, binary.LittleEndian, uint64(len(js))); err != nil {
		return err
	}
	bw.Write(js)
	var buf [8]byte
	for i, t := range sd.Tensors {
		dt := dts[i]
		b := buf[:dt.size]
		if dt.float {
			for _, v := range t.F32 {
				dt.fromF32(b, v)
				bw.Write(b)
			}
		} else {
			for _, v := range t.I64 {
				dt.fromI64(b, v)
				bw.Write(b)
			}
		}
	}
	return bw.Flush()
}
