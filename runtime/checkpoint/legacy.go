package checkpoint

import (
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/nlpodyssey/gopickle/types"
)

// legacyMagic is the number that starts a file in the legacy format.
var legacyMagic, _ = new(big.Int).SetString("1950a86a20f9469cfc6c", 16)

// legacyVersion is the only version of the legacy format there is.
const legacyVersion = 1001

// readLegacy reads the legacy format of torch.save: five pickles (the magic
// number, the format version, system information, the object, the list of
// storage keys), then for each storage key its element count as a
// little-endian int64 and its bytes.
func readLegacy(r io.ReaderAt, size int64) (*StateDict, error) {
	data := make([]byte, size)
	if n, err := r.ReadAt(data, 0); n < len(data) {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	u := newUnpickler(true)
	// next decodes the next pickle.
	next := func() (any, error) {
		v, n, err := u.load(data)
		data = data[n:]
		return v, err
	}

	magic, err := next()
	if m, ok := magic.(*big.Int); err != nil || !ok || m.Cmp(legacyMagic) != 0 {
		return nil, errors.New("a pickle, but not a PyTorch checkpoint (no magic number)")
	}
	version, err := next()
	if err != nil {
		return nil, fmt.Errorf("format version: %w", err)
	}
	if version != legacyVersion {
		return nil, fmt.Errorf("legacy format version %s is not supported", describeValue(version))
	}
	sysInfo, err := next()
	if err != nil {
		return nil, fmt.Errorf("system information: %w", err)
	}
	if d, ok := sysInfo.(*types.Dict); ok {
		if little, ok := d.Get("little_endian"); ok && little != true {
			return nil, errors.New("big-endian checkpoints are not supported")
		}
	}
	obj, err := next()
	if err != nil {
		return nil, err
	}
	keyList, err := next()
	if err != nil {
		return nil, fmt.Errorf("storage keys: %w", err)
	}
	keys, ok := keyList.(*types.List)
	if !ok {
		return nil, fmt.Errorf("storage keys are %s, not a list", aDescribe(keyList))
	}
	for _, k := range *keys {
		key, _ := k.(string)
		s := u.storages[key]
		if s == nil {
			return nil, fmt.Errorf("storage key %s is not referenced by the object", describeValue(k))
		}
		if s.data != nil {
			return nil, fmt.Errorf("storage %q is listed twice", key)
		}
		if len(data) < 8 {
			return nil, fmt.Errorf("storage %q: file truncated", key)
		}
		count := int64(le.Uint64(data))
		data = data[8:]
		if count != int64(s.numel) {
			return nil, fmt.Errorf("storage %q holds %d elements, but the object says %d", key, count, s.numel)
		}
		if s.numel > len(data)/s.dtype.size {
			return nil, fmt.Errorf("storage %q: file truncated (%d %s elements, %d bytes left)", key, s.numel, s.dtype.name, len(data))
		}
		n := s.numel * s.dtype.size
		s.data = data[:n:n]
		data = data[n:]
	}

	views, err := findStateDict(obj)
	if err != nil {
		return nil, err
	}
	load := func(s *storage) error {
		if s.data == nil {
			return fmt.Errorf("storage %q is not in the file", s.key)
		}
		return nil
	}
	return newStateDict(views, newMaterialiser(size, load))
}
