// Package graph draws a checked model as a diagram.
//
// It takes an *ir.Model and gives a *Graph: nodes for the stem and head
// layers, one cluster per GRCL stage with its feed-forward and gate inputs,
// its cell (drawn once with a recurrent edge, or once per iteration), the
// gate path, the selective-kernel branches and attention, and the
// downsample's two paths; edges carry the per-image shapes. DOT writes it for
// Graphviz and Mermaid for Markdown; SVG runs Graphviz's dot on the DOT.
// Like every emitter it reads only the IR, and its output is deterministic:
// nodes and edges come out in the order the model is walked.
package graph

import (
	"fmt"
	"strings"

	"github.com/grcc/grcc/ir"
)

// Options choose what the diagram shows.
type Options struct {
	// Unroll draws every iteration of each stage instead of the cell once
	// with a recurrent edge.
	Unroll bool
	// Stage, when set, draws only the stage of that name.
	Stage string
}

// Graph is a diagram: nodes, possibly inside nested clusters, and edges
// between them, all in drawing order.
type Graph struct {
	Name   string // the model's name
	Source string // the spec's path, for the header comment
	Label  string // the title drawn above the diagram
	Root   *Cluster
	Edges  []*Edge
}

// Cluster is a box around related nodes: the stem, a stage, a cell, an SKConv.
type Cluster struct {
	ID, Label string
	Kind      Kind
	Nodes     []*Node
	Clusters  []*Cluster
}

// Node is one box or circle of the diagram.
type Node struct {
	ID    string
	Lines []string // the label, one string a line
	Kind  Kind
	// Spine marks the main path from input to logits, which DOT keeps in
	// a straight line so that the stages stack instead of drifting apart.
	Spine bool
}

// Edge is an arrow from one node to another, labelled with what flows along it.
type Edge struct {
	From, To *Node
	Label    string
	Kind     Kind
}

// Kind says how a node, edge or cluster is drawn.
type Kind int

const (
	// Layer is a computing node or a plain edge.
	Layer Kind = iota
	// Gate marks the gate path: x_g, the recurrent gate convolution, the sigmoid.
	Gate
	// Op is a small circle: a sum, a product, a selection.
	Op
	// State is the recurrent state x_s.
	State
	// Attention is an SKConv's attention.
	Attention
	// IO is the input or output of the diagram.
	IO
	// Recurrent is the edge that closes a stage's loop.
	Recurrent
	// Stage is a stage's cluster; the stem's and head's too.
	Stage
	// Cell is the cluster of one cell or iteration, or of a downsample.
	Cell
	// SK is an SKConv's cluster.
	SK
)

// New builds the diagram of m.
func New(m *ir.Model, opt Options) (*Graph, error) {
	b := &builder{opt: opt, ids: map[string]bool{}}
	g := &Graph{Name: m.Name, Source: m.Source, Root: &Cluster{}}
	b.g = g
	if opt.Stage != "" {
		st, err := findStage(m, opt.Stage)
		if err != nil {
			return nil, err
		}
		g.Label = fmt.Sprintf("%s · stage %s", m.Name, st.Name)
		in := b.spine(b.node(g.Root, "input", IO, "x", shape(st.In)))
		out := b.stage(g.Root, st, in)
		b.edge(out, b.spine(b.node(g.Root, "output", IO, "output")), shape(st.Out), Layer)
		return g, nil
	}

	s := m.Stats()
	g.Label = fmt.Sprintf("%s · %s parameters · %s MACs per image", m.Name, count(s.Parameters), count(s.MACs))
	cur := b.spine(b.node(g.Root, "input", IO, "input", shape(m.Input)))
	if len(m.Stem) > 0 {
		cur = b.layers(g.Root, "stem", m.Stem, cur, m.Input)
	}
	for _, st := range m.Stages {
		cur = b.stage(g.Root, st, cur)
	}
	// A checked model has at least one stage.
	cur = b.layers(g.Root, "head", m.Head, cur, m.Stages[len(m.Stages)-1].Out)
	b.edge(cur, b.spine(b.node(g.Root, "logits", IO, "logits", fmt.Sprint(m.Classes))), shape(m.Output()), Layer)
	return g, nil
}

// findStage returns the stage of m named name, or an error that lists them.
func findStage(m *ir.Model, name string) (*ir.Stage, error) {
	var names []string
	for _, st := range m.Stages {
		if st.Name == name {
			return st, nil
		}
		names = append(names, st.Name)
	}
	msg := fmt.Sprintf("model %q has no stage %q", m.Name, name)
	if s := ir.Suggest(name, names); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	return nil, fmt.Errorf("%s (its stages: %s)", msg, strings.Join(names, ", "))
}

// builder assigns node identifiers and keeps them unique.
type builder struct {
	g   *Graph
	opt Options
	ids map[string]bool
}

func (b *builder) id(want string) string {
	id := want
	for i := 2; b.ids[id]; i++ {
		id = fmt.Sprintf("%s#%d", want, i)
	}
	b.ids[id] = true
	return id
}

func (b *builder) node(c *Cluster, id string, k Kind, lines ...string) *Node {
	n := &Node{ID: b.id(id), Lines: lines, Kind: k}
	c.Nodes = append(c.Nodes, n)
	return n
}

func (b *builder) spine(n *Node) *Node {
	n.Spine = true
	return n
}

func (b *builder) cluster(parent *Cluster, id string, k Kind, label string) *Cluster {
	c := &Cluster{ID: b.id("cluster " + id), Label: label, Kind: k}
	parent.Clusters = append(parent.Clusters, c)
	return c
}

func (b *builder) edge(from, to *Node, label string, k Kind) {
	b.g.Edges = append(b.g.Edges, &Edge{From: from, To: to, Label: label, Kind: k})
}

// layers draws a stem or head as a cluster with one node per layer, in
// order, and returns the last node.
func (b *builder) layers(parent *Cluster, part string, list []ir.Layer, in *Node, inShape ir.Shape) *Node {
	c := b.cluster(parent, part, Stage, part+" · "+layerTotals(list).String())
	cur, s := in, inShape
	for i, l := range list {
		n := l.Info()
		id, lines := n.Name, []string{n.Name, describe(l)}
		if n.Name == "" {
			id, lines = fmt.Sprintf("%s.%d", part, i), lines[1:]
		}
		next := b.spine(b.node(c, id, Layer, lines...))
		b.edge(cur, next, shape(s), Layer)
		cur, s = next, n.Out
	}
	return cur
}

// stage draws one GRCL block as a cluster and returns its output node.
//
// Rolled, the cluster holds x_s = conv_f(x) and x_g = conv_g_f(x), the cell
// once, the gate path, and the update x_s = r·g + x_s with an edge back to
// x_s labelled with the number of iterations; unrolled, a chain of
// iterations, each updating the previous one's x_s.
func (b *builder) stage(parent *Cluster, st *ir.Stage, in *Node) *Node {
	sc := b.cluster(parent, st.Name, Stage, stageLabel(st))
	p := st.Name + "."
	width := ir.Shape{C: st.Width, H: st.In.H, W: st.In.W}
	sp := &stagePainter{b: b, st: st, prefix: p}

	convF := b.spine(b.node(sc, p+"conv_f", Layer, sp.unit(st.BNF, &ir.ReLU{}, st.ConvF)...))
	b.edge(in, convF, shape(st.In), Layer)
	xs := b.spine(b.node(sc, p+"x_s", State, "x_s"))
	b.edge(convF, xs, shape(width), Layer)
	var xg *Node
	if st.Gate == ir.SigmoidGate {
		xg = b.node(sc, p+"conv_g_f", Gate, sp.unit(st.BNGF, &ir.ReLU{}, st.ConvGF)...)
		b.edge(in, xg, shape(st.In), Gate)
	}

	out := xs
	if b.opt.Unroll {
		for _, it := range st.Iters {
			out = sp.iteration(sc, it, out, xg, false)
		}
	} else {
		// The loop goes back to x_s; the stage goes on from the last
		// update, below the cell.
		out = sp.iteration(sc, st.Iters[0], xs, xg, true)
		b.edge(out, xs, fmt.Sprintf("×%d", st.Iterations), Recurrent)
	}
	if st.Down == nil {
		return out
	}
	return sp.downsample(sc, out)
}

// stagePainter draws the parts of one stage.
type stagePainter struct {
	b      *builder
	st     *ir.Stage
	prefix string // the stage's name and a dot
	rolled bool   // naming iteration 1's layers iter_i
}

// name is a layer's checkpoint name within its stage; in the rolled
// drawing, iteration 1 stands for every iteration i.
func (sp *stagePainter) name(l ir.Layer) string {
	n := strings.TrimPrefix(l.Info().Name, sp.prefix)
	if sp.rolled {
		for _, it := range []string{"iter_", "iter_g_"} {
			if strings.HasPrefix(n, it+"1.") {
				return it + "i." + n[len(it)+2:]
			}
		}
	}
	return n
}

// unit is the label of a pre-activated layer: BatchNorm, ReLU (and a pool)
// before a convolution, drawn as one node. The first line names the
// checkpoint entries, the second the operations.
func (sp *stagePainter) unit(list ...ir.Layer) []string {
	var names, ops []string
	for _, l := range list {
		if l.Info().Name != "" {
			names = append(names, sp.name(l))
		}
		ops = append(ops, describe(l))
	}
	return []string{strings.Join(names, ", "), strings.Join(ops, " · ")}
}

// chain draws a stage's layer sequence: each run of BatchNorm, ReLU and
// pooling joins the convolution after it in one node; an SKConv is drawn
// as its branches and attention. It returns the last node and its shape.
func (sp *stagePainter) chain(c *Cluster, list []ir.Layer, in *Node, inShape ir.Shape) (*Node, ir.Shape) {
	b := sp.b
	cur, s := in, inShape
	var pending []ir.Layer
	flush := func() {
		if len(pending) == 0 {
			return
		}
		// The node is known by its last checkpoint name: the convolution's.
		last, id := pending[len(pending)-1], ""
		for _, l := range pending {
			if l.Info().Name != "" {
				id = sp.name(l)
			}
		}
		n := b.node(c, sp.prefix+id, Layer, sp.unit(pending...)...)
		b.edge(cur, n, shape(s), Layer)
		cur, s, pending = n, last.Info().Out, nil
	}
	for _, l := range list {
		switch l := l.(type) {
		case *ir.SKConv:
			flush()
			cur, s = sp.skConv(c, l, cur), l.Out
		case *ir.Conv:
			pending = append(pending, l)
			flush()
		default:
			pending = append(pending, l)
		}
	}
	flush()
	return cur, s
}

// iteration draws one iteration (or, rolled, every iteration at once):
// the cell r = iter_i(x_s), the gate g = sigmoid(conv_g_r(relu(iter_g_i.0(x_s))) + x_g)
// and the update x_s = r·g + x_s. It returns the node of the new x_s.
func (sp *stagePainter) iteration(parent *Cluster, it *ir.Iteration, xs, xg *Node, rolled bool) *Node {
	b, st := sp.b, sp.st
	sp.rolled = rolled
	defer func() { sp.rolled = false }()
	width := ir.Shape{C: st.Width, H: st.In.H, W: st.In.W}
	label := fmt.Sprintf("iteration %d", it.Index)
	if rolled && st.Iterations > 1 {
		label = fmt.Sprintf("iteration i = 1…%d", st.Iterations)
	}
	if st.ShareWeights {
		switch {
		case rolled:
			label += " · convolutions shared by every iteration"
		case it.Index > 1:
			label += " · shares iteration 1's convolutions"
		}
	}
	iter := fmt.Sprintf("%siter_%d.", sp.prefix, it.Index)
	if rolled {
		iter = sp.prefix + "iter_i."
	}
	c := b.cluster(parent, strings.TrimSuffix(iter, "."), Cell, label)
	r, _ := sp.chain(c, it.Cell, xs, width)

	// r, or r·g with the gate.
	update := r
	if st.Gate == ir.SigmoidGate {
		gconv := b.node(c, sp.prefix+sp.name(it.GateBN), Gate, sp.unit(it.GateBN, &ir.ReLU{}, st.ConvGR)...)
		b.edge(xs, gconv, shape(width), Gate)
		gsum := b.node(c, iter+"gate_sum", Op, "+")
		b.edge(gconv, gsum, shape(width), Gate)
		b.edge(xg, gsum, "x_g "+shape(width), Gate)
		sig := b.node(c, iter+"sigmoid", Gate, "sigmoid")
		b.edge(gsum, sig, shape(width), Gate)
		mul := b.node(c, iter+"mul", Op, "×")
		b.edge(r, mul, "r "+shape(width), Layer)
		b.edge(sig, mul, "g "+shape(width), Gate)
		update = mul
	}
	add := b.spine(b.node(c, iter+"add", Op, "+"))
	if update == r {
		b.edge(r, add, "r "+shape(width), Layer)
	} else {
		b.edge(update, add, shape(width), Layer)
	}
	b.edge(xs, add, "x_s "+shape(width), Layer)
	return add
}

// downsample draws the two paths that halve the size and their sum.
func (sp *stagePainter) downsample(parent *Cluster, xs *Node) *Node {
	b, st, d := sp.b, sp.st, sp.st.Down
	label := "downsample"
	if d.Unused != nil {
		label += fmt.Sprintf(" · %s: in the checkpoint, unused", sp.name(d.Unused))
	}
	c := b.cluster(parent, sp.prefix+"downsample", Cell, label)
	width := ir.Shape{C: st.Width, H: st.In.H, W: st.In.W}
	pool, ps := sp.chain(c, d.Pool, xs, width)
	conv, cs := sp.chain(c, d.Conv, xs, width)
	b.spine(pool)
	sum := b.spine(b.node(c, sp.prefix+"down_sum", Op, "+"))
	b.edge(pool, sum, shape(ps), Layer)
	b.edge(conv, sum, shape(cs), Layer)
	return sum
}

// skConv draws an SKConv: the branches side by side, their sum, the
// attention that weighs them per channel, and the weighted sum.
func (sp *stagePainter) skConv(parent *Cluster, k *ir.SKConv, in *Node) *Node {
	b := sp.b
	name := sp.name(k)
	c := b.cluster(parent, sp.prefix+name, SK, fmt.Sprintf("%s: selective kernel, %d branches", name, len(k.Branches)))
	local := func(l ir.Layer) string { return strings.TrimPrefix(l.Info().Name, k.Name+".") }
	sum := b.node(c, sp.prefix+name+".sum", Op, "+")
	var branches []*Node
	for _, br := range k.Branches {
		n := b.node(c, sp.prefix+sp.name(br.Conv), Layer,
			local(br.Conv)+", "+local(br.BN),
			describe(br.Conv)+" · "+describe(br.BN)+" · ReLU")
		b.edge(in, n, shape(k.In), Layer)
		b.edge(n, sum, shape(k.Out), Layer)
		branches = append(branches, n)
	}
	att := b.node(c, sp.prefix+name+".attention", Attention,
		"attention: "+local(k.FC1)+", "+local(k.FC1BN)+", "+local(k.FC2),
		"global avg pool · "+describe(k.FC1)+" · BN · ReLU",
		describe(k.FC2)+" · softmax over branches")
	b.edge(sum, att, shape(k.Out), Layer)
	sel := b.node(c, sp.prefix+name+".select", Op, "Σ a_m·b_m")
	b.edge(att, sel, fmt.Sprintf("a %d×%d×1×1", len(k.Branches), k.Out.C), Attention)
	for m, n := range branches {
		b.edge(n, sel, fmt.Sprintf("b_%d", m), Layer)
	}
	return sel
}
