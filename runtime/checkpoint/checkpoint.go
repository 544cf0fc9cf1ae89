// Package checkpoint reads the weights of PyTorch models from checkpoint
// files: the zip format of torch.save (PyTorch 1.6 and later), the legacy
// format (torch.save with _use_new_zipfile_serialization=False, or PyTorch
// before 1.6) and safetensors. It also writes safetensors files and checks a
// state_dict against the parameters a model expects.
//
// Checkpoint files come from the internet, so reading one never runs code
// from it: pickles are decoded by gopickle, which only records data, and
// any global a state_dict does not need (such as os.system) makes the load
// fail. Every size a file claims is checked against the bytes present before
// memory is allocated for it, and malformed files give errors, not panics.
package checkpoint

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/nlpodyssey/gopickle/types"
)

// Load reads a checkpoint file: PyTorch zip format (torch.save since 1.6),
// PyTorch legacy format (_use_new_zipfile_serialization=False), or
// safetensors, detected by content, not extension. A training checkpoint,
// a dict with a 'state_dict' (or 'model') entry, is unwrapped, and a
// 'module.' prefix common to all keys (from DataParallel) is removed.
// Errors name the file.
func Load(path string) (*StateDict, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return Read(f, info.Size(), path)
}

// Read is like Load, reading size bytes from r; name is the file name for
// error messages.
func Read(r io.ReaderAt, size int64, name string) (*StateDict, error) {
	sd, err := read(r, size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return sd, nil
}

func read(r io.ReaderAt, size int64) (*StateDict, error) {
	if size < 0 {
		return nil, fmt.Errorf("negative size %d", size)
	}
	head := make([]byte, min(size, 512))
	if _, err := r.ReadAt(head, 0); err != nil && err != io.EOF {
		return nil, err
	}
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return readZip(r, size)
	case len(head) > 1 && head[0] == 0x80: // pickle's PROTO opcode
		return readLegacy(r, size)
	case isSafetensors(head, size):
		return readSafetensors(r, size)
	case len(head) >= 262 && string(head[257:262]) == "ustar":
		return nil, fmt.Errorf("the tar format of PyTorch before 0.4 is not supported")
	}
	return nil, fmt.Errorf("not a PyTorch or safetensors checkpoint")
}

// isSafetensors reports whether a file of size bytes starting with head
// looks like a safetensors file: a little-endian 8-byte header length
// that fits in the file, then a JSON object.
func isSafetensors(head []byte, size int64) bool {
	if len(head) < 9 || head[8] != '{' {
		return false
	}
	n := binary.LittleEndian.Uint64(head)
	return n <= uint64(size-8)
}

// A namedView is an entry of a pickled state_dict.
type namedView struct {
	key  string
	view *view
}

// dictEntry is an entry of a pickled dict.
type dictEntry struct {
	key, value any
}

// dictEntries returns the entries of a pickled dict in order, and whether v
// is a dict.
func dictEntries(v any) ([]dictEntry, bool) {
	var entries []dictEntry
	switch d := v.(type) {
	case *types.Dict:
		for _, e := range *d {
			entries = append(entries, dictEntry{e.Key, e.Value})
		}
	case *types.OrderedDict:
		for e := d.List.Front(); e != nil; e = e.Next() {
			oe := e.Value.(*types.OrderedDictEntry)
			entries = append(entries, dictEntry{oe.Key, oe.Value})
		}
	default:
		return nil, false
	}
	return entries, true
}

// findStateDict finds the state_dict in a pickled object: the object itself,
// or the 'state_dict' or 'model' entry of a training checkpoint.
func findStateDict(obj any) ([]namedView, error) {
	entries, ok := dictEntries(obj)
	if !ok {
		return nil, fmt.Errorf("the file holds %s, not a state_dict", aDescribe(obj))
	}
	for range 3 { // a checkpoint in a checkpoint in a checkpoint, at most
		inner := trainingStateDict(entries)
		if inner == nil {
			break
		}
		entries = inner
	}
	views := make([]namedView, len(entries))
	for i, e := range entries {
		key, ok := e.key.(string)
		if !ok {
			return nil, fmt.Errorf("the state_dict has a key of type %s", describe(e.key))
		}
		v, ok := e.value.(*view)
		if !ok {
			return nil, fmt.Errorf("%q is %s, not a tensor, and there is no 'state_dict' or 'model' entry", key, aDescribe(e.value))
		}
		views[i] = namedView{key, v}
	}
	return views, nil
}

// trainingStateDict returns the entries of the 'state_dict' or else the
// 'model' entry of a training checkpoint with entries entries, or nil if it
// has neither or they are not dicts.
func trainingStateDict(entries []dictEntry) []dictEntry {
	for _, name := range []string{"state_dict", "model"} {
		for _, e := range entries {
			if e.key == name {
				if inner, ok := dictEntries(e.value); ok {
					return inner
				}
			}
		}
	}
	return nil
}

// newStateDict materialises the tensors of a pickled state_dict, removing a
// 'module.' prefix common to all keys.
func newStateDict(views []namedView, m *materialiser) (*StateDict, error) {
	const prefix = "module."
	strip := len(views) > 0
	for _, v := range views {
		strip = strip && strings.HasPrefix(v.key, prefix)
	}
	tensors := make([]*Tensor, len(views))
	for i, v := range views {
		key := v.key
		if strip {
			key = key[len(prefix):]
		}
		t, err := m.tensor(key, v.view)
		if err != nil {
			return nil, err
		}
		tensors[i] = t
	}
	return NewStateDict(tensors)
}
