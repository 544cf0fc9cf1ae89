// Package torch is grcc's PyTorch target: it takes a checked model (package
// ir) and gives one self-contained Python file defining an nn.Module for it.
//
// The module is a drop-in for the reference GRCNN implementation: its
// state_dict has the model's ir.Params, key for key, in order and shape, so
// the reference's checkpoints load with load_state_dict(strict=True), and in
// eval mode it computes the reference's logits. Weight-shared iterations hold
// the same module objects (so the same tensors) as the first iteration, as in
// the reference, so torch.save stores each shared tensor once.
//
// The file holds a GRCL class (one stage), an SKConv class when a stage uses
// selective-kernel cells, and the model class. The stem and head are built
// from their layers; dotted checkpoint names become nested modules (see
// node), and the forward pass reads top to bottom, with each activation's
// shape in a comment.
package torch

import (
	"fmt"
	"strings"

	"github.com/grcc/grcc/ir"
)

// Emit returns the Python source of a PyTorch module for m. The module
// defines the class ClassName(m.Name), constructible without arguments, with
// an optional num_classes (default: the spec's class count), and the
// constants MODEL_NAME, INPUT_SHAPE (channels, height, width of one image)
// and NUM_CLASSES. It fails when no nn.Module can have m's state_dict, for
// example when two names under one dotted prefix are split by another
// layer, or a name would shadow an nn.Module attribute.
func Emit(m *ir.Model) ([]byte, error) {
	items, err := forwardItems(m)
	if err != nil {
		return nil, fmt.Errorf("%s: torch: %v", m.Source, err)
	}
	root, err := buildTree(items)
	if err == nil {
		arrange(root, items)
		err = checkNames(root)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: torch: %v", m.Source, err)
	}
	fixed := markClasses(m, items)
	e := &emitter{m: m, items: items, root: root, f: stageFeatures(m), className: ClassName(m.Name), fixedClasses: fixed}
	return e.file(), nil
}

// ClassName is the Python class name Emit gives a model: its name split at
// underscores, each part capitalised, the known acronyms SK, CNN, GRCNN,
// SKGRCNN and CIFAR upper-cased and ImageNet spelt so. A part that ends in a
// number is a family name with its depth, upper-cased before the number. So
// grcnn55 → GRCNN55, skgrcnn55 → SKGRCNN55, grcnn110_sk_shared →
// GRCNN110SKShared, tiny_imagenet → TinyImageNet and resnet50 → RESNET50. A
// name that would clash with the file's other names (GRCL, SKConv, F) or a
// Python keyword gets "Model" appended; one that would start with a digit
// gets it prepended.
func ClassName(model string) string {
	var b strings.Builder
	for _, part := range strings.Split(model, "_") {
		b.WriteString(classPart(part))
	}
	name := b.String()
	switch {
	case name == "":
		return "Model"
	case name[0] >= '0' && name[0] <= '9':
		return "Model" + name
	case contains(pyKeywords, name) || contains([]string{"F", "GRCL", "SKConv", "ValueError"}, name):
		return name + "Model"
	}
	return name
}

var knownWords = map[string]string{
	"sk": "SK", "cnn": "CNN", "grcnn": "GRCNN", "skgrcnn": "SKGRCNN", "cifar": "CIFAR", "imagenet": "ImageNet",
}

func classPart(part string) string {
	if part == "" {
		return ""
	}
	if w, ok := knownWords[strings.ToLower(part)]; ok {
		return w
	}
	word := strings.TrimRight(part, "0123456789")
	if word != part && word != "" {
		if w, ok := knownWords[strings.ToLower(word)]; ok {
			return w + part[len(word):]
		}
		return strings.ToUpper(word) + part[len(word):]
	}
	return strings.ToUpper(part[:1]) + part[1:]
}

// forwardItems lists the model's forward pass at the top level, adding the
// flatten PyTorch needs before the first linear layer: the IR treats a linear
// layer's input as flattened. Only relu and linear may follow a linear layer,
// and only in the head (the checker enforces it), so nothing is unflattened.
func forwardItems(m *ir.Model) ([]*item, error) {
	var items []*item
	flat := false
	add := func(it *item) {
		switch {
		case it.kind == "linear" && !flat:
			in := it.layer.Info().In
			items = append(items, &item{kind: "flatten", section: it.section, out: ir.Shape{C: in.Len(), H: 1, W: 1}, flatOut: true})
			flat = true
		}
		it.flatOut = flat || it.kind == "linear"
		flat = it.flatOut
		items = append(items, it)
	}
	layers := func(section string, list []ir.Layer) error {
		for _, l := range list {
			kind := layerKind(l)
			if _, ok := itemEmitters[kind]; !ok {
				return fmt.Errorf("%s layer %q of kind %s has no PyTorch form", section, l.Info().Name, kind)
			}
			add(&item{kind: kind, layer: l, name: l.Info().Name, section: section, out: l.Info().Out})
		}
		return nil
	}
	if err := layers("stem", m.Stem); err != nil {
		return nil, err
	}
	for _, st := range m.Stages {
		add(&item{kind: "stage", stage: st, name: st.Name, section: "stages", out: st.Out})
	}
	if err := layers("head", m.Head); err != nil {
		return nil, err
	}
	if !flat {
		// Logits are N×classes, as the reference's.
		items = append(items, &item{kind: "flatten", section: "head", out: m.Output(), flatOut: true})
	}
	return items, nil
}

func layerKind(l ir.Layer) string {
	switch l := l.(type) {
	case *ir.Conv:
		return "conv"
	case *ir.BatchNorm:
		return "batchnorm"
	case *ir.ReLU:
		return "relu"
	case *ir.Pool:
		if l.Max {
			return "maxpool"
		}
		return "avgpool"
	case *ir.GlobalAvgPool:
		return "globalavgpool"
	case *ir.Linear:
		return "linear"
	case *ir.SKConv:
		return "sk"
	}
	return fmt.Sprintf("%T", l)
}

// markClasses marks the layers whose channel count is the class count: the
// last convolution or linear layer when it outputs the classes, and the
// BatchNorms after it. It reports whether the class count is fixed instead
// (set by a stage's width, say), so that num_classes cannot change it.
func markClasses(m *ir.Model, items []*item) (fixed bool) {
	last := -1
	for i, it := range items {
		if it.kind == "conv" || it.kind == "linear" || it.kind == "stage" {
			last = i
		}
	}
	if last < 0 || items[last].kind == "stage" || items[last].layer.Info().Out.C != m.Classes {
		return true
	}
	for _, it := range items[last:] {
		if it == items[last] || it.kind == "batchnorm" {
			it.classes = true
		}
	}
	return false
}

// emitter writes the Python file.
type emitter struct {
	w            writer
	m            *ir.Model
	items        []*item
	root         *node
	f            *features
	className    string
	fixedClasses bool
}

func (e *emitter) file() []byte {
	w := &e.w
	m := e.m
	w.line("# Code generated by grcc from %s. DO NOT EDIT.", m.Source)
	w.line(`"""A PyTorch module for the GRCNN %s.`, m.Name)
	w.line("")
	w.line("Its state_dict has the reference implementation's keys, in order and shape, so")
	w.line("the reference's checkpoints load with load_state_dict(strict=True):")
	w.line("")
	w.line("    model = %s()", e.className)
	w.line(`    model.load_state_dict(torch.load("checkpoint.pth", map_location="cpu"))`)
	w.line("    model.eval()")
	w.line("    logits = model(images)  # images: N x %d x %d x %d, float32", m.Input.C, m.Input.H, m.Input.W)
	w.line(`"""`)
	w.line("")
	w.line("import torch")
	w.line("import torch.nn.functional as F")
	w.line("from torch import nn")
	w.line("")
	w.line("__all__ = [%s]", pyString(e.className))
	w.line("")
	w.line("MODEL_NAME = %s", pyString(m.Name))
	w.line("# The shape of one input image: channels, height, width.")
	w.line("INPUT_SHAPE = (%d, %d, %d)", m.Input.C, m.Input.H, m.Input.W)
	w.line("NUM_CLASSES = %d", m.Classes)
	for i, sk := range e.f.skSettings {
		if i == 0 {
			w.line("# Selective-kernel settings: each branch's (kernel, dilation), and fc1's width,")
			w.line("# max(channels // reduction, min_width).")
		}
		w.assign(e.f.skSettingsNames[i], skSettingsExpr(sk))
	}
	if len(m.Stages) > 0 {
		if e.f.sk {
			w.line("")
			w.line("")
			writeSKConv(w)
		}
		if e.f.sk && e.f.plain {
			w.line("")
			w.line("")
			writeSpatialConv(w)
		}
		w.line("")
		w.line("")
		writeGRCL(w, e.f)
	}
	w.line("")
	w.line("")
	e.modelClass()
	return w.buf.Bytes()
}

func (e *emitter) modelClass() {
	w := &e.w
	m := e.m
	w.block(fmt.Sprintf("class %s(nn.Module):", e.className), func() {
		w.line(`"""The model %s, from %s.`, m.Name, m.Source)
		w.line("")
		w.line("Input N x %d x %d x %d float32; output N x num_classes logits (%d by default).", m.Input.C, m.Input.H, m.Input.W, m.Classes)
		w.line(`"""`)
		w.line("")
		w.block("def __init__(self, num_classes=NUM_CLASSES):", func() {
			w.line("super().__init__()")
			if e.fixedClasses {
				w.block("if num_classes != NUM_CLASSES:", func() {
					w.line(`raise ValueError(`)
					w.line(`    "num_classes: %s has %d classes, fixed by its layers' widths"`, m.Name, m.Classes)
					w.line(`)`)
				})
			}
			section := ""
			for _, c := range e.root.children {
				if s := e.items[c.first].section; s != section {
					section = s
					w.line("# %s", sectionTitle(s))
				}
				w.assign("self."+c.name, e.construct(c))
			}
		})
		w.line("")
		w.block("def forward(self, x):", e.forward)
	})
}

func sectionTitle(s string) string {
	switch s {
	case "stem":
		return "Stem."
	case "stages":
		return "GRCL stages."
	}
	return "Head."
}

// construct is the constructor expression of a node's module.
func (e *emitter) construct(n *node) expr {
	switch {
	case n.isLeaf():
		return itemEmitters[n.item.kind].module(e, n.item)
	case n.seq:
		c := expr{open: "nn.Sequential(", close: ")"}
		for _, el := range n.elems {
			switch el := el.(type) {
			case *node:
				c.args = append(c.args, arg{val: e.construct(el)})
			case *item:
				c.args = append(c.args, arg{val: itemEmitters[el.kind].module(e, el)})
			}
		}
		return c
	}
	c := expr{open: "nn.ModuleDict({", close: "})"}
	for _, ch := range n.children {
		c.args = append(c.args, arg{key: pyString(ch.name) + ": ", val: e.construct(ch)})
	}
	return c
}

// forward writes the model's forward pass: one statement per top-level
// module call or parameterless step, each with the activation's shape.
func (e *emitter) forward() {
	w := &e.w
	section := ""
	for p := 0; p < len(e.items); {
		it := e.items[p]
		if it.section != section {
			section = it.section
			w.line("# %s", sectionTitle(section))
		}
		var rhs string
		if it.leaf == nil {
			rhs = itemEmitters[it.kind].step(it)
			p++
		} else {
			n := it.leaf
			for a := n; a.parent != nil; a = a.parent {
				if a.callable() {
					n = a
				}
			}
			rhs = n.access() + "(x)"
			it = e.items[n.last]
			p = n.last + 1
		}
		w.line("x = %s  # %s", rhs, shapeComment(it))
	}
	w.line("return x")
}

func shapeComment(it *item) string {
	if it.flatOut {
		return fmt.Sprint(it.out.C)
	}
	return it.out.String()
}
