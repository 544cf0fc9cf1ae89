package torch

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/grcc/grcc/ir"
)

// An item is one step of the model's forward pass at the top level: a stem
// or head layer, a whole GRCL stage, or a reshape that PyTorch needs and the
// IR leaves implicit (flatten before a linear layer, and back to N×C×1×1
// when a spatial layer follows one).
type item struct {
	kind    string // a key of itemEmitters
	layer   ir.Layer
	stage   *ir.Stage
	name    string   // checkpoint name; "" for steps without parameters
	section string   // "stem", "stages" or "head", for comments
	out     ir.Shape // the activation after this step
	flatOut bool     // the activation after this step is N×features

	// classes marks a layer whose output channels are the class count: the
	// constructor's num_classes sets them.
	classes bool

	leaf       *node // the tree node of a named item
	absorbedBy *node // the nn.Sequential that holds an unnamed item, or nil
}

// A node is one module of the emitted model: the root (the model class), a
// container made from a dotted checkpoint-name prefix, or a leaf (a layer or
// a stage).
//
// PyTorch names a submodule's state_dict entries by the attribute path that
// leads to it, so checkpoint name "lastact.0" means attribute lastact holding
// a container whose element "0" is the BatchNorm. A container whose elements
// are named 0, 1, 2, … and, together with the unnamed steps between them,
// form one unbroken run of the forward pass becomes an nn.Sequential that the
// forward pass calls as a whole (the reference's lastact = Sequential(BN,
// ReLU)); any other container becomes an nn.ModuleDict whose elements are
// called one by one.
type node struct {
	name     string // the last component of the dotted name
	parent   *node
	children []*node
	byName   map[string]*node
	item     *item // non-nil for a leaf

	seq   bool  // an nn.Sequential (callable as a whole) rather than an nn.ModuleDict
	elems []any // an nn.Sequential's elements in index order: *node or *item

	first, last int // the items this node spans in the forward pass, absorbed steps included

	// Tracking for the contiguity check.
	lastName string // the checkpoint name most recently placed under this node
	closedBy string // the checkpoint name that ended this node's run, or ""
}

func (n *node) isLeaf() bool { return n.item != nil }

// callable reports whether the forward pass may call the node as one module.
func (n *node) callable() bool { return n.isLeaf() || n.seq }

// path is the node's dotted name.
func (n *node) path() string {
	var parts []string
	for p := n; p.parent != nil; p = p.parent {
		parts = append(parts, p.name)
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, ".")
}

// access is the Python expression for the node inside the model's methods.
func (n *node) access() string {
	if n.parent.parent == nil {
		return "self." + n.name
	}
	if n.parent.seq {
		return n.parent.access() + "[" + n.name + "]"
	}
	return n.parent.access() + "[" + pyString(n.name) + "]"
}

// buildTree arranges the named items into modules by their dotted names. It
// fails when the names cannot come from any nn.Module: PyTorch lists all of
// a submodule's entries together, so the names under one prefix must follow
// each other in the forward pass (which is the state_dict order here).
func buildTree(items []*item) (*node, error) {
	root := &node{byName: map[string]*node{}}
	var open []*node // the nodes on the path of the last named item
	for pos, it := range items {
		if it.name == "" {
			continue
		}
		parts := strings.Split(it.name, ".")
		cur := root
		var path []*node
		for d, part := range parts {
			child := cur.byName[part]
			if child != nil && child.closedBy != "" {
				return nil, fmt.Errorf("checkpoint names %q and %q are split by %q: a PyTorch module lists the entries of submodule %q together, so no nn.Module has this state_dict order; give %q a name outside %q or move it",
					child.lastName, it.name, child.closedBy, child.path(), child.closedBy, child.path())
			}
			if child != nil && (child.isLeaf() || d == len(parts)-1) {
				// The checker rejects names that are prefixes of each other.
				return nil, fmt.Errorf("checkpoint name %q clashes with %q", it.name, child.path())
			}
			if child == nil {
				child = &node{name: part, parent: cur, byName: map[string]*node{}}
				cur.byName[part] = child
				cur.children = append(cur.children, child)
			}
			child.lastName = it.name
			path = append(path, child)
			cur = child
		}
		cur.item = it
		cur.first, cur.last = pos, pos
		it.leaf = cur
		for _, n := range open {
			if !containsNode(path, n) {
				n.closedBy = it.name
			}
		}
		open = path
	}
	return root, nil
}

func containsNode(list []*node, n *node) bool {
	for _, x := range list {
		if x == n {
			return true
		}
	}
	return false
}

var indexRE = regexp.MustCompile(`^(0|[1-9][0-9]{0,5})$`)

// arrange decides, children first, which containers are nn.Sequential and
// which unnamed steps they absorb, and sets every node's span.
func arrange(n *node, items []*item) {
	if n.isLeaf() {
		return
	}
	for _, c := range n.children {
		arrange(c, items)
	}
	n.first, n.last = n.children[0].first, n.children[len(n.children)-1].last
	if n.parent == nil {
		return
	}
	elems, last, ok := sequential(n, items)
	if !ok {
		return
	}
	n.seq, n.elems, n.last = true, elems, last
	for _, e := range elems {
		if it, ok := e.(*item); ok {
			it.absorbedBy = n
		}
	}
}

// sequential reports whether container n can be an nn.Sequential: its
// children are named 0, 1, 2, … in forward order (gaps allowed), each is
// callable, and the unnamed steps between two children exactly fill the gap
// between their indices. ReLUs straight after the last child join it, as in
// the reference's lastact = Sequential(BatchNorm2d, ReLU). It returns the
// elements in index order and the last item the Sequential covers.
func sequential(n *node, items []*item) ([]any, int, bool) {
	var elems []any
	next := 0 // the index the next element takes
	for k, c := range n.children {
		if !c.callable() || !indexRE.MatchString(c.name) {
			return nil, 0, false
		}
		idx, _ := strconv.Atoi(c.name)
		if k == 0 {
			if idx != 0 {
				return nil, 0, false
			}
		} else {
			prev := n.children[k-1]
			between := items[prev.last+1 : c.first]
			if len(between) != idx-next {
				return nil, 0, false
			}
			for _, it := range between {
				elems = append(elems, it)
			}
		}
		elems = append(elems, c)
		next = idx + 1
	}
	last := n.children[len(n.children)-1].last
	for last+1 < len(items) && items[last+1].kind == "relu" {
		last++
		elems = append(elems, items[last])
	}
	return elems, last, true
}

// moduleAttrs are the attributes of nn.Module (PyTorch 1.13 and later,
// dunder names aside): a submodule of that name would shadow one, or PyTorch
// refuses it.
var moduleAttrs = strings.Fields(`
	T_destination add_module apply bfloat16 buffers call_super_init children
	compile cpu cuda double dump_patches eval extra_repr float forward
	get_buffer get_extra_state get_parameter get_submodule half ipu
	load_state_dict modules mtia named_buffers named_children named_modules
	named_parameters parameters register_backward_hook register_buffer
	register_forward_hook register_forward_pre_hook
	register_full_backward_hook register_full_backward_pre_hook
	register_load_state_dict_post_hook register_load_state_dict_pre_hook
	register_module register_parameter register_state_dict_post_hook
	register_state_dict_pre_hook requires_grad_ set_extra_state set_submodule
	share_memory state_dict to to_empty train training type xpu zero_grad

	_apply _backward_hooks _backward_pre_hooks _buffers _call_impl
	_forward_hooks _forward_pre_hooks _get_backward_hooks _get_name
	_is_full_backward_hook _load_from_state_dict _load_state_dict_post_hooks
	_load_state_dict_pre_hooks _maybe_warn_non_full_backward_hook _modules
	_named_members _non_persistent_buffers_set _parameters
	_register_load_state_dict_pre_hook _register_state_dict_hook
	_replicate_for_data_parallel _save_to_state_dict _slow_forward
	_state_dict_hooks _state_dict_pre_hooks _version`)

// moduleDictAttrs are the methods nn.ModuleDict adds; it refuses them as keys.
var moduleDictAttrs = strings.Fields(`clear items keys pop update values`)

// pyKeywords are Python's reserved words.
var pyKeywords = strings.Fields(`
	False None True and as assert async await break class continue def del
	elif else except finally for from global if import in is lambda nonlocal
	not or pass raise return try while with yield`)

// checkNames rejects names that PyTorch cannot hold as submodules of the
// kind the tree gives them.
func checkNames(n *node) error {
	for _, c := range n.children {
		if bad := badName(c); bad != "" {
			return fmt.Errorf("checkpoint name %q cannot be a PyTorch module: %q %s; rename it", c.path(), c.name, bad)
		}
		if err := checkNames(c); err != nil {
			return err
		}
	}
	return nil
}

// badName says why n's name cannot name it in its parent, or "".
func badName(n *node) string {
	atRoot := n.parent.parent == nil
	switch {
	case atRoot && contains(pyKeywords, n.name):
		return "is a Python keyword"
	case strings.HasPrefix(n.name, "__"):
		return "starts with two underscores (Python mangles or reserves such names)"
	case contains(moduleAttrs, n.name):
		return "is an attribute of nn.Module"
	case !atRoot && !n.parent.seq && contains(moduleDictAttrs, n.name):
		return "is a method of nn.ModuleDict"
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
