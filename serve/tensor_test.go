package serve

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestParseData(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []float32
	}{
		{"[1, 2.5, -3e2, 0]", []float32{1, 2.5, -300, 0}},
		{" [[1,2],[3,4]] ", []float32{1, 2, 3, 4}},
		{"[[[1]],[[2]],[[3]],[[4]]]", []float32{1, 2, 3, 4}},
	} {
		got, err := parseData([]byte(c.in), len(c.want))
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("parseData(%s) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, c := range []struct{ in, err string }{
		{`{"a":1}`, "not a JSON array"},
		{"[1,2,3]", "holds 3 numbers"},
		{"[1,2,3,4,5]", "more numbers"},
		{"[1,,2,3,4]", "unexpected ','"},
		{"[1,2,3,4,]", "unexpected ']'"},
		{`[1,2,"x",4]`, "not a number"},
		{"[1,2,3,1e99]", "not a float32"},
		{"[1,2,3,4", "unterminated"},
		{"[1,2,3,4] x", "after the array"},
		{"[1 2,3,4]", "unexpected"},
		{"[1,2,3,--4]", "not a float32"},
	} {
		_, err := parseData([]byte(c.in), 4)
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("parseData(%s): %v, want an error with %q", c.in, err, c.err)
		}
	}
}

// TestAppendData checks that logits survive the JSON round trip bit for bit.
func TestAppendData(t *testing.T) {
	x := []float32{0, -1.5, math.MaxFloat32, math.SmallestNonzeroFloat32, 1.0 / 3, -123456.79}
	b, err := appendData(nil, x)
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseData(b, len(x))
	if err != nil || !slices.Equal(got, x) {
		t.Errorf("round trip of %v through %s: %v, %v", x, b, got, err)
	}
	if _, err := appendData(nil, []float32{float32(math.NaN())}); err == nil {
		t.Error("NaN written as JSON")
	}
}
