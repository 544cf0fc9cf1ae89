package runtime

import "math"

// Softmax sets dst to the softmax of src, computed in float64 after
// subtracting the maximum so that large logits do not overflow. dst and src
// have the same length and may be the same slice.
func Softmax(dst, src []float32) {
	if len(dst) != len(src) {
		panic("runtime: Softmax: len(dst) != len(src)")
	}
	copy(dst, src)
	softmaxStrided(dst, len(dst), 1)
}

// TopK returns the indices of the k largest scores, largest first; equal
// scores keep their index order and NaNs rank last. k is clamped to
// [0, len(scores)].
func TopK(scores []float32, k int) []int {
	k = max(0, min(k, len(scores)))
	top := make([]int, 0, k)
	for i, v := range scores {
		// Insertion into a sorted list of k: k is small (top-5) and this
		// touches each score once.
		pos := len(top)
		for pos > 0 && ranksAbove(v, scores[top[pos-1]]) {
			pos--
		}
		if pos >= k {
			continue
		}
		if len(top) < k {
			top = append(top, 0)
		}
		copy(top[pos+1:], top[pos:])
		top[pos] = i
	}
	return top
}

// ranksAbove reports whether a later score v outranks an earlier score w.
func ranksAbove(v, w float32) bool {
	if math.IsNaN(float64(w)) {
		return !math.IsNaN(float64(v))
	}
	return v > w
}
