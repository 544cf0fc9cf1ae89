package serve

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

// parseData reads the data of a JSON tensor: numbers in row-major order,
// flat or nested in arrays, as the Open Inference Protocol allows. It
// expects want numbers and checks that each fits a float32.
func parseData(data []byte, want int) ([]float32, error) {
	out := make([]float32, 0, want)
	depth := 0
	i := skipSpace(data, 0)
	if i == len(data) || data[i] != '[' {
		return nil, errors.New("data is not a JSON array")
	}
	expectValue := true // after '[' or ','
	for i < len(data) {
		switch c := data[i]; {
		case c == '[':
			if !expectValue {
				return nil, fmt.Errorf("data: unexpected '[' at byte %d", i)
			}
			depth++
			i++
		case c == ']':
			if expectValue && data[i-1] == ',' {
				return nil, fmt.Errorf("data: unexpected ']' at byte %d", i)
			}
			depth--
			i++
			expectValue = false
			if depth == 0 {
				if j := skipSpace(data, i); j != len(data) {
					return nil, fmt.Errorf("data: unexpected %q after the array", data[j])
				}
				if len(out) != want {
					return nil, fmt.Errorf("data holds %d numbers, the shape needs %d", len(out), want)
				}
				return out, nil
			}
		case c == ',':
			if expectValue {
				return nil, fmt.Errorf("data: unexpected ',' at byte %d", i)
			}
			expectValue = true
			i++
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		default:
			if !expectValue {
				return nil, fmt.Errorf("data: unexpected %q at byte %d", c, i)
			}
			j := i
			for j < len(data) && (data[j] == '-' || data[j] == '+' || data[j] == '.' || data[j] == 'e' || data[j] == 'E' || (data[j] >= '0' && data[j] <= '9')) {
				j++
			}
			if j == i {
				return nil, fmt.Errorf("data: %q at byte %d is not a number", c, i)
			}
			if len(out) == want {
				return nil, fmt.Errorf("data holds more numbers than the shape's %d", want)
			}
			v, err := strconv.ParseFloat(string(data[i:j]), 32)
			if err != nil || math.IsInf(v, 0) {
				return nil, fmt.Errorf("data: %q is not a float32", data[i:j])
			}
			out = append(out, float32(v))
			expectValue = false
			i = j
		}
	}
	return nil, errors.New("data: unterminated array")
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// appendData writes x as a flat JSON array, each float32 in the shortest
// form that reads back as the same float32.
func appendData(b []byte, x []float32) ([]byte, error) {
	b = append(b, '[')
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("element %d is %v, which JSON cannot represent", i, v)
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, float64(v), 'g', -1, 32)
	}
	return append(b, ']'), nil
}
