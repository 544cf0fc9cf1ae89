// Package npy reads and writes float32 arrays in NumPy's .npy format.
//
// It reads arrays of float32 or float64 (converted to float32) elements of
// either byte order, in C (row-major) order, and writes float32 arrays in
// little-endian C order. It is a small reader of its own rather than a
// wrapper of codeberg.org/sbinet/npyio, which allocates what a header claims
// before checking it against the file, panics on some malformed headers and
// writes only one- and two-dimensional arrays.
package npy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// magic starts every .npy file.
const magic = "\x93NUMPY"

// ReadFloat32 reads the .npy file at path and returns its elements as
// float32s in row-major order, and its shape (empty for a scalar). Errors
// name the file.
func ReadFloat32(path string) (data []float32, shape []int, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	data, shape, err = Decode(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return data, shape, nil
}

var (
	descrRE   = regexp.MustCompile(`['"]descr['"]\s*:\s*['"]([^'"]*)['"]`)
	fortranRE = regexp.MustCompile(`['"]fortran_order['"]\s*:\s*(True|False)`)
	shapeRE   = regexp.MustCompile(`['"]shape['"]\s*:\s*\(([^)]*)\)`)
)

// Decode decodes the contents of a .npy file as ReadFloat32 does.
func Decode(b []byte) (data []float32, shape []int, err error) {
	if !bytes.HasPrefix(b, []byte(magic)) || len(b) < len(magic)+2 {
		return nil, nil, errors.New("not a .npy file")
	}
	major := b[len(magic)]
	b = b[len(magic)+2:]
	var headerLen uint64
	switch {
	case major == 1 && len(b) >= 2:
		headerLen = uint64(binary.LittleEndian.Uint16(b))
		b = b[2:]
	case (major == 2 || major == 3) && len(b) >= 4:
		headerLen = uint64(binary.LittleEndian.Uint32(b))
		b = b[4:]
	case major < 1 || major > 3:
		return nil, nil, fmt.Errorf(".npy format version %d is not supported", major)
	default:
		return nil, nil, errors.New("truncated header")
	}
	if headerLen > uint64(len(b)) {
		return nil, nil, errors.New("truncated header")
	}
	header := string(b[:headerLen])
	b = b[headerLen:]

	descr := descrRE.FindStringSubmatch(header)
	fortran := fortranRE.FindStringSubmatch(header)
	shapeText := shapeRE.FindStringSubmatch(header)
	if descr == nil || fortran == nil || shapeText == nil {
		return nil, nil, fmt.Errorf("malformed header %q", truncate(header))
	}
	if fortran[1] == "True" {
		return nil, nil, errors.New("the array is in Fortran order; save it in C order (numpy.ascontiguousarray)")
	}
	var order binary.ByteOrder
	switch descr[1][0:min(1, len(descr[1]))] {
	case "<", "|", "=":
		order = binary.LittleEndian
	case ">":
		order = binary.BigEndian
	}
	kind := strings.TrimLeft(descr[1], "<>|=")
	if order == nil || kind != "f4" && kind != "f8" {
		return nil, nil, fmt.Errorf("dtype %q is not supported (want float32 or float64)", descr[1])
	}
	size := 4
	if kind == "f8" {
		size = 8
	}

	shape = []int{}
	for _, field := range strings.Split(shapeText[1], ",") {
		field = strings.TrimSpace(field)
		if field == "" {
			continue
		}
		d, err := strconv.Atoi(field)
		if err != nil || d < 0 {
			return nil, nil, fmt.Errorf("malformed shape (%s)", truncate(shapeText[1]))
		}
		shape = append(shape, d)
	}
	n := count(shape, len(b)/size)
	if n*size != len(b) {
		return nil, nil, fmt.Errorf("shape %v does not match the %d bytes of data", shape, len(b))
	}

	data = make([]float32, n)
	for i := range data {
		if size == 4 {
			data[i] = math.Float32frombits(order.Uint32(b[4*i:]))
		} else {
			data[i] = float32(math.Float64frombits(order.Uint64(b[8*i:])))
		}
	}
	return data, shape, nil
}

// WriteFloat32 writes data, of the given shape, to a .npy file at path as
// little-endian float32 in C order.
func WriteFloat32(path string, data []float32, shape []int) error {
	b, err := Encode(data, shape)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, b, 0o666)
}

// Encode returns the contents of a .npy file holding data, of the given
// shape, as WriteFloat32 writes it.
func Encode(data []float32, shape []int) ([]byte, error) {
	dims := make([]string, len(shape))
	for i, d := range shape {
		if d < 0 {
			return nil, fmt.Errorf("negative dimension in shape %v", shape)
		}
		dims[i] = strconv.Itoa(d)
	}
	if count(shape, len(data)) != len(data) {
		return nil, fmt.Errorf("shape %v does not match the %d elements of data", shape, len(data))
	}
	tuple := "(" + strings.Join(dims, ", ") + ")"
	if len(shape) == 1 {
		tuple = "(" + dims[0] + ",)"
	}
	header := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': %s, }", tuple)
	// Pad with spaces and a newline so that the data is 64-byte aligned, as NumPy does.
	prefix := len(magic) + 2 + 2
	pad := 63 - (prefix+len(header))%64
	header += strings.Repeat(" ", pad) + "\n"
	if len(header) > math.MaxUint16 {
		return nil, fmt.Errorf("shape %v makes too long a header", shape)
	}

	b := make([]byte, 0, prefix+len(header)+4*len(data))
	b = append(b, magic...)
	b = append(b, 1, 0) // version 1.0
	b = binary.LittleEndian.AppendUint16(b, uint16(len(header)))
	b = append(b, header...)
	for _, v := range data {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b, nil
}

// count returns the number of elements of an array of the given shape, of
// non-negative dimensions, or limit+1 if that is more than limit.
func count(shape []int, limit int) int {
	n := 1
	for _, d := range shape {
		if d == 0 {
			return 0
		}
	}
	for _, d := range shape {
		if n > limit/d {
			return limit + 1
		}
		n *= d
	}
	return n
}

// truncate shortens s for an error message.
func truncate(s string) string {
	const max = 100
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
