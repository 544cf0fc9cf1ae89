package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// This file decodes the pickles of PyTorch checkpoints with gopickle, which
// never runs Python code: every global a pickle references is resolved by
// findClass to a Go value that merely records data. Only the globals a
// state_dict or a training checkpoint needs are resolved; any other makes
// the load fail.
//
// Before gopickle sees a pickle, scanPickle walks its opcodes and checks
// every length they claim against the bytes present, since gopickle
// allocates what a length claims before reading.

// RefusedError reports a pickle that references a global that a checkpoint
// never needs, such as "posix.system" in a file crafted to run a command
// when Python unpickles it.
type RefusedError struct {
	Global string // module.name
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("refusing to load: pickle references %q, which a state_dict never needs", e.Global)
}

// A contentError is a problem in what a pickle describes (as opposed to how
// it is encoded), reported as is.
type contentError struct{ msg string }

func (e *contentError) Error() string { return e.msg }

func contentErrorf(format string, args ...any) error {
	return &contentError{fmt.Sprintf(format, args...)}
}

// opaqueGlobals are the globals besides PyTorch's that training checkpoints
// commonly hold (a script's arguments, a NumPy scalar such as the best
// accuracy). They are decoded as opaque values that can never be used as
// tensors.
var opaqueGlobals = map[string]bool{
	"argparse.Namespace":            true,
	"numpy.core.multiarray.scalar":  true,
	"numpy._core.multiarray.scalar": true,
	"numpy.dtype":                   true,
	"_codecs.encode":                true, // how protocol 2 pickles bytes
}

// findClass resolves a global for gopickle. gopickle itself resolves a few
// globals to plain data types before asking (collections.OrderedDict,
// builtins.dict and builtins.list among them).
func findClass(module, name string) (any, error) {
	global := module + "." + name
	switch global {
	case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
		return rebuildTensor{}, nil
	case "torch._utils._rebuild_parameter":
		return rebuildParameter{}, nil
	}
	if module == "torch" {
		if dt := dtypeOfStorage(name); dt != nil {
			return storageType{dt}, nil
		}
	}
	if opaqueGlobals[global] {
		return &opaqueClass{global}, nil
	}
	return nil, &RefusedError{global}
}

// storageType stands for a storage class such as torch.FloatStorage.
type storageType struct{ dtype *dtype }

// rebuildTensor stands for torch._utils._rebuild_tensor_v2, called with
// (storage, storage_offset, size, stride, requires_grad, backward_hooks[,
// metadata]), and for the older _rebuild_tensor, called with the first four.
type rebuildTensor struct{}

func (rebuildTensor) Call(args ...any) (any, error) {
	if len(args) < 4 {
		return nil, contentErrorf("tensor rebuilt from %d arguments, want at least 4", len(args))
	}
	s, ok := args[0].(*storage)
	if !ok {
		return nil, contentErrorf("tensor rebuilt from %s, not a storage", aDescribe(args[0]))
	}
	offset, ok := args[1].(int)
	if !ok || offset < 0 {
		return nil, contentErrorf("tensor has storage offset %s", describeValue(args[1]))
	}
	shape, err := intTuple("shape", args[2])
	if err != nil {
		return nil, err
	}
	stride, err := intTuple("strides", args[3])
	if err != nil {
		return nil, err
	}
	if len(shape) != len(stride) {
		return nil, contentErrorf("tensor has shape %v but strides %v", shape, stride)
	}
	return &view{storage: s, offset: offset, shape: shape, stride: stride}, nil
}

// intTuple returns the elements of v, a tuple of at most maxDims
// non-negative ints.
func intTuple(what string, v any) ([]int, error) {
	t, ok := v.(*types.Tuple)
	if !ok || t.Len() > maxDims {
		return nil, contentErrorf("tensor %s is %s, not a tuple of at most %d ints", what, describeValue(v), maxDims)
	}
	ints := make([]int, t.Len())
	for i := range ints {
		n, ok := t.Get(i).(int)
		if !ok || n < 0 {
			return nil, contentErrorf("tensor %s has element %s", what, describeValue(t.Get(i)))
		}
		ints[i] = n
	}
	return ints, nil
}

// rebuildParameter stands for torch._utils._rebuild_parameter, called with
// (data, requires_grad, backward_hooks); a parameter is its data.
type rebuildParameter struct{}

func (rebuildParameter) Call(args ...any) (any, error) {
	if len(args) < 1 {
		return nil, contentErrorf("parameter rebuilt from no arguments")
	}
	v, ok := args[0].(*view)
	if !ok {
		return nil, contentErrorf("parameter rebuilt from %s, not a tensor", aDescribe(args[0]))
	}
	return v, nil
}

// opaqueClass stands for one of opaqueGlobals; calling it or creating an
// instance of it gives an opaque value.
type opaqueClass struct{ name string }

func (c *opaqueClass) Call(args ...any) (any, error)  { return &opaque{c.name}, nil }
func (c *opaqueClass) PyNew(args ...any) (any, error) { return &opaque{c.name}, nil }

// opaque is a value of an opaqueClass.
type opaque struct{ class string }

func (*opaque) PySetState(any) error { return nil }

// unpickler decodes the pickles of one PyTorch file.
type unpickler struct {
	legacy   bool                // the persistent ids are those of the legacy format
	storages map[string]*storage // by key, as the pickles reference them
}

func newUnpickler(legacy bool) *unpickler {
	return &unpickler{legacy: legacy, storages: make(map[string]*storage)}
}

// load decodes the pickle at the start of data and returns its value and
// length in bytes.
func (u *unpickler) load(data []byte) (value any, n int, err error) {
	n, err = scanPickle(data)
	if err != nil {
		return nil, 0, fmt.Errorf("corrupt pickle: %w", err)
	}
	p := pickle.NewUnpickler(bytes.NewReader(data[:n]))
	p.FindClass = findClass
	p.PersistentLoad = u.persistentLoad
	// gopickle panics on some malformed pickles (an odd number of items
	// for a dict, an unhashable dict key, ...).
	defer func() {
		if r := recover(); r != nil {
			value, n, err = nil, 0, fmt.Errorf("corrupt pickle: %s", truncate(fmt.Sprint(r)))
		}
	}()
	value, err = p.Load()
	if err != nil {
		var ce *contentError
		var re *RefusedError
		if !errors.As(err, &ce) && !errors.As(err, &re) {
			err = fmt.Errorf("corrupt pickle: %s", truncate(err.Error()))
		}
		return nil, 0, err
	}
	return value, n, nil
}

// persistentLoad resolves the persistent ids by which PyTorch pickles refer
// to storages: ('storage', storage_type, key, location, numel), with a sixth
// element, view_metadata, in the legacy format.
func (u *unpickler) persistentLoad(id any) (any, error) {
	t, ok := id.(*types.Tuple)
	if !ok || t.Len() == 0 {
		return nil, contentErrorf("unexpected persistent id %s", describeValue(id))
	}
	switch kind := t.Get(0); kind {
	case "storage":
	case "module":
		return nil, contentErrorf("the file holds a pickled module, not a state_dict (save model.state_dict() instead)")
	default:
		return nil, contentErrorf("unexpected persistent id %s", describeValue(kind))
	}
	want := 5
	if u.legacy {
		want = 6
	}
	if t.Len() < want {
		return nil, contentErrorf("storage reference with %d elements, want %d", t.Len(), want)
	}
	st, ok1 := t.Get(1).(storageType)
	key, ok2 := t.Get(2).(string)
	numel, ok3 := t.Get(4).(int)
	if !ok1 || !ok2 || !ok3 || numel < 0 {
		return nil, contentErrorf("malformed storage reference (%s, %s, %s)",
			describe(t.Get(1)), describeValue(t.Get(2)), describeValue(t.Get(4)))
	}
	if u.legacy && t.Get(5) != nil {
		return nil, contentErrorf("storage %q is a view of another storage, which only files from before PyTorch 0.4 have; they are not supported", key)
	}
	if s := u.storages[key]; s != nil {
		if s.dtype != st.dtype || s.numel != numel {
			return nil, contentErrorf("storage %q is referenced as %d %s and as %d %s elements",
				key, s.numel, s.dtype.name, numel, st.dtype.name)
		}
		return s, nil
	}
	s := &storage{key: key, dtype: st.dtype, numel: numel}
	u.storages[key] = s
	return s, nil
}

// describe names the type of a pickled value as Python would.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int, *big.Int:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case *types.Tuple:
		return "tuple"
	case *types.List:
		return "list"
	case *types.Dict:
		return "dict"
	case *types.OrderedDict:
		return "OrderedDict"
	case *view:
		return "tensor"
	case *storage:
		return "storage"
	case storageType:
		return "torch." + v.dtype.storage
	case *opaque:
		return v.class
	case *opaqueClass:
		return v.name
	}
	return fmt.Sprintf("%T", v)
}

// describeValue shows a short value as Python would, and names the type of
// any other.
func describeValue(v any) string {
	switch v := v.(type) {
	case int:
		return fmt.Sprint(v)
	case string:
		return truncate(fmt.Sprintf("%q", v))
	}
	return aDescribe(v)
}

// aDescribe is describe with an indefinite article.
func aDescribe(v any) string {
	d := describe(v)
	if strings.ContainsRune("aeiouAEIOU", rune(d[0])) {
		return "an " + d
	}
	return "a " + d
}

// truncate shortens s for an error message.
func truncate(s string) string {
	const max = 200
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

// Kinds of opcode arguments.
const (
	argUnknown = iota // not an opcode
	argNone
	arg1        // 1 byte
	arg2        // 2 bytes
	arg4        // 4 bytes
	arg8        // 8 bytes
	argLine     // text up to a newline
	argTwoLines // two lines
	argLen1     // a 1-byte length, then that many bytes
	argLen4     // a 4-byte length, then that many bytes
	argLen8     // an 8-byte length, then that many bytes
	argFrame    // the 8-byte length of the frame that follows
	argLong4    // argLen4, for a long integer
)

// pickleArgs gives the argument of every opcode of pickle protocols 0 to 5.
var pickleArgs = [256]uint8{
	'(': argNone, '.': argNone, '0': argNone, '1': argNone, '2': argNone,
	'F': argLine, 'I': argLine, 'J': arg4, 'K': arg1, 'L': argLine, 'M': arg2,
	'N': argNone, 'P': argLine, 'Q': argNone, 'R': argNone, 'S': argLine,
	'T': argLen4, 'U': argLen1, 'V': argLine, 'X': argLen4, 'a': argNone,
	'b': argNone, 'c': argTwoLines, 'd': argNone, '}': argNone, 'e': argNone,
	'g': argLine, 'h': arg1, 'i': argTwoLines, 'j': arg4, 'l': argNone,
	']': argNone, 'o': argNone, 'p': argLine, 'q': arg1, 'r': arg4,
	's': argNone, 't': argNone, ')': argNone, 'u': argNone, 'G': arg8,
	'B': argLen4, 'C': argLen1,
	0x80: arg1, 0x81: argNone, 0x82: arg1, 0x83: arg2, 0x84: arg4,
	0x85: argNone, 0x86: argNone, 0x87: argNone, 0x88: argNone, 0x89: argNone,
	0x8a: argLen1, 0x8b: argLong4, 0x8c: argLen1, 0x8d: argLen8, 0x8e: argLen8,
	0x8f: argNone, 0x90: argNone, 0x91: argNone, 0x92: argNone, 0x93: argNone,
	0x94: argNone, 0x95: argFrame, 0x96: argLen8, 0x97: argNone, 0x98: argNone,
}

// Opcodes that pop a mark: TUPLE, LIST, DICT, APPENDS, SETITEMS, POP_MARK,
// OBJ, INST, ADDITEMS, FROZENSET.
const markPoppers = "tldeu1oi\x90\x91"

// Limits on what a pickle may ask of the decoder.
const (
	// maxPickle bounds the size of a pickle, since decoding one takes
	// up to about 150 times its size in memory (an empty dict for each
	// EMPTY_DICT byte, say). The pickle of a state_dict takes about 150
	// bytes per tensor; that of a model with 1,300 tensors, 200 KB.
	maxPickle  = 16 << 20
	maxMarks   = 256     // open marks at once
	maxLine    = 1 << 16 // bytes in a text argument
	maxLongLen = 1 << 10 // bytes of a long integer (decoding is quadratic)
)

// scanPickle checks the opcodes of the pickle at the start of data and
// returns its length, up to and including its STOP opcode.
func scanPickle(data []byte) (int, error) {
	marks := 0
	i := 0
	for i < len(data) {
		if i > maxPickle {
			return 0, fmt.Errorf("pickle longer than %d MiB", maxPickle>>20)
		}
		op := data[i]
		i++
		kind := pickleArgs[op]
		if kind == argUnknown {
			return 0, fmt.Errorf("unknown opcode 0x%02x at byte %d", op, i-1)
		}
		switch {
		case op == '(':
			marks++
			if marks > maxMarks {
				return 0, fmt.Errorf("more than %d nested marks", maxMarks)
			}
		case op == '.':
			return i, nil
		case strings.IndexByte(markPoppers, op) >= 0 && marks > 0:
			marks--
		}
		left := uint64(len(data) - i)
		var n uint64 // argument bytes after the opcode
		switch kind {
		case arg1:
			n = 1
		case arg2:
			n = 2
		case arg4:
			n = 4
		case arg8, argFrame:
			n = 8
		case argLine, argTwoLines:
			lines := 1
			if kind == argTwoLines {
				lines = 2
			}
			for range lines {
				end := bytes.IndexByte(data[i+int(n):], '\n')
				if end < 0 || end > maxLine {
					return 0, fmt.Errorf("opcode 0x%02x at byte %d lacks a line of at most %d bytes", op, i-1, maxLine)
				}
				n += uint64(end) + 1
			}
		case argLen1, argLen4, argLong4, argLen8:
			size := uint64(4)
			switch kind {
			case argLen1:
				size = 1
			case argLen8:
				size = 8
			}
			if left < size {
				return 0, errTruncatedPickle
			}
			var length uint64
			switch size {
			case 1:
				length = uint64(data[i])
			case 4:
				length = uint64(binary.LittleEndian.Uint32(data[i:]))
			case 8:
				length = binary.LittleEndian.Uint64(data[i:])
			}
			if kind == argLong4 && length > maxLongLen {
				return 0, fmt.Errorf("integer of %d bytes at byte %d", length, i-1)
			}
			if length > left-size {
				return 0, fmt.Errorf("opcode 0x%02x at byte %d claims %d bytes, but %d remain", op, i-1, length, left-size)
			}
			n = size + length
		}
		if n > left {
			return 0, errTruncatedPickle
		}
		if kind == argFrame {
			if frame := binary.LittleEndian.Uint64(data[i:]); frame > left-n {
				return 0, fmt.Errorf("frame at byte %d claims %d bytes, but %d remain", i-1, frame, left-n)
			}
		}
		i += int(n)
	}
	return 0, errTruncatedPickle
}

var errTruncatedPickle = errors.New("pickle ends before its STOP opcode")
