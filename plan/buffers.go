package plan

import (
	"fmt"
	"sort"
)

// Special buffer numbers for the values the caller provides.
const (
	InputBuffer  = -2 // the caller's input slice
	OutputBuffer = -3 // the caller's output slice
)

// planBuffers assigns values to buffers: a value gets a free buffer (the
// smallest that fits, grown if none does) when it is first written and gives
// it back after its last reader, so values that are never live at the same
// time share memory. A step's output never shares a buffer with its inputs,
// except for in-place updates.
func planBuffers(p *Program) error {
	last := map[*Value]int{}
	for i, s := range p.Steps {
		for _, v := range s.Reads() {
			last[v] = i
		}
		for _, v := range s.Writes() {
			last[v] = max(last[v], i)
		}
	}
	p.Input.Buffer = InputBuffer
	p.Output.Buffer = OutputBuffer
	p.Buffers = nil
	var free []int
	live := map[*Value]bool{}
	for i, s := range p.Steps {
		// Give back buffers whose values were last read before this step.
		for v := range live {
			if last[v] < i {
				delete(live, v)
				free = append(free, v.Buffer)
			}
		}
		sort.Ints(free)
		for _, out := range s.Writes() {
			if out.Buffer != -1 {
				continue // written in place, or external
			}
			need := out.Shape.Len()
			best := -1
			for k, b := range free {
				if p.Buffers[b] >= need && (best < 0 || p.Buffers[b] < p.Buffers[free[best]]) {
					best = k
				}
			}
			if best < 0 && len(free) > 0 {
				// Grow the largest free buffer rather than adding one.
				for k, b := range free {
					if best < 0 || p.Buffers[b] > p.Buffers[free[best]] {
						best = k
					}
				}
			}
			if best >= 0 {
				out.Buffer = free[best]
				free = append(free[:best], free[best+1:]...)
				p.Buffers[out.Buffer] = max(p.Buffers[out.Buffer], need)
			} else {
				out.Buffer = len(p.Buffers)
				p.Buffers = append(p.Buffers, need)
			}
			live[out] = true
		}
	}
	return nil
}

// Verify checks the program's invariants: every value read was written
// before, shapes agree with the layers, and after buffer planning no two
// values live at the same time share a buffer.
func (p *Program) Verify() error {
	defined := map[*Value]bool{p.Input: true}
	for i, s := range p.Steps {
		for k, v := range s.In {
			if v == nil && !(k == 1 && (s.Kind == Gate || s.Kind == Residual)) {
				return fmt.Errorf("step %d (%s): input %d is missing", i, s, k)
			}
		}
		for _, v := range s.Reads() {
			if !defined[v] {
				return fmt.Errorf("step %d (%s): reads %s before it is written", i, s, v)
			}
		}
		if err := s.checkShapes(); err != nil {
			return fmt.Errorf("step %d (%s): %w", i, s, err)
		}
		for _, v := range s.Writes() {
			defined[v] = true
		}
	}
	if !defined[p.Output] {
		return fmt.Errorf("output %s is never written", p.Output)
	}
	if len(p.Buffers) > 0 {
		return p.verifyBuffers()
	}
	return nil
}

func (s *Step) checkShapes() error {
	want := func(v *Value, shape interface{ String() string }, what string) error {
		if v.Shape.String() != shape.String() {
			return fmt.Errorf("%s is %s, want %s", what, v.Shape, shape)
		}
		return nil
	}
	switch s.Kind {
	case Conv:
		if err := want(s.In[0], s.Conv.In, "input"); err != nil {
			return err
		}
		return want(s.Out, s.Conv.Out, "output")
	case Linear:
		if s.In[0].Shape.Len() != s.Linear.InFeatures {
			return fmt.Errorf("input has %d features, want %d", s.In[0].Shape.Len(), s.Linear.InFeatures)
		}
	case Gate, Residual, Add:
		for _, v := range s.In {
			if v != nil {
				if err := want(v, s.Out.Shape, "operand"); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (p *Program) verifyBuffers() error {
	first := map[*Value]int{}
	last := map[*Value]int{}
	for i, s := range p.Steps {
		for _, v := range append(s.Writes(), s.Reads()...) {
			if _, ok := first[v]; !ok {
				first[v] = i
			}
			last[v] = i
		}
	}
	byBuffer := map[int][]*Value{}
	for v := range first {
		if v.Buffer < 0 {
			continue
		}
		if v.Shape.Len() > p.Buffers[v.Buffer] {
			return fmt.Errorf("%s needs %d floats, buffer %d has %d", v, v.Shape.Len(), v.Buffer, p.Buffers[v.Buffer])
		}
		byBuffer[v.Buffer] = append(byBuffer[v.Buffer], v)
	}
	for b, vs := range byBuffer {
		for i, a := range vs {
			for _, c := range vs[i+1:] {
				// Lifetimes [first, last] may touch only if one ends where the other starts... which
				// planning never does: an output never shares with its step's inputs.
				if first[a] <= last[c] && first[c] <= last[a] {
					return fmt.Errorf("%s and %s are live together in buffer %d", a, c, b)
				}
			}
		}
	}
	return nil
}
