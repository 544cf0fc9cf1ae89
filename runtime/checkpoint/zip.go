package checkpoint

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// readZip reads the zip format of torch.save: an archive with records
// <prefix>/data.pkl (the pickled object) and <prefix>/data/<key> (the bytes
// of each storage), all stored uncompressed.
func readZip(r io.ReaderAt, size int64) (*StateDict, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("reading zip archive: %w", err)
	}
	records := make(map[string]*zip.File, len(zr.File))
	prefix := ""
	for _, f := range zr.File {
		records[f.Name] = f
		dir, file := path.Split(f.Name)
		if file != "data.pkl" || strings.Count(dir, "/") != 1 {
			continue
		}
		if prefix != "" && dir != prefix {
			return nil, fmt.Errorf("zip archive holds both %sdata.pkl and %sdata.pkl", prefix, dir)
		}
		prefix = dir
	}
	if prefix == "" {
		return nil, errors.New("zip archive without a data.pkl record: not a PyTorch checkpoint")
	}
	if records[prefix+"constants.pkl"] != nil {
		return nil, errors.New("the file is a TorchScript archive (torch.jit.save), not a state_dict saved with torch.save")
	}
	if f := records[prefix+"byteorder"]; f != nil {
		order, err := readRecord(f, 16)
		if err != nil {
			return nil, err
		}
		if s := strings.TrimSpace(string(order)); s != "little" {
			return nil, fmt.Errorf("byte order %q is not supported", truncate(s))
		}
	}
	pkl, err := readRecord(records[prefix+"data.pkl"], size)
	if err != nil {
		return nil, err
	}
	u := newUnpickler(false)
	obj, _, err := u.load(pkl)
	if err != nil {
		return nil, err
	}
	views, err := findStateDict(obj)
	if err != nil {
		return nil, err
	}
	load := func(s *storage) error {
		if s.data != nil {
			return nil
		}
		f := records[prefix+"data/"+s.key]
		if f == nil {
			return fmt.Errorf("storage %q: record %sdata/%s is missing", s.key, prefix, s.key)
		}
		if s.numel > int(size)/s.dtype.size || uint64(s.numel*s.dtype.size) != f.UncompressedSize64 {
			return fmt.Errorf("storage %q: record %s holds %d bytes, not %d %s elements",
				s.key, f.Name, f.UncompressedSize64, s.numel, s.dtype.name)
		}
		data, err := readRecord(f, size)
		if err != nil {
			return err
		}
		s.data = data
		return nil
	}
	return newStateDict(views, newMaterialiser(size, load))
}

// readRecord reads an uncompressed zip record of at most limit bytes.
func readRecord(f *zip.File, limit int64) ([]byte, error) {
	if f.Method != zip.Store {
		return nil, fmt.Errorf("record %s is compressed; PyTorch writes records uncompressed", f.Name)
	}
	if f.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("record %s claims %d bytes, more than the file holds", f.Name, f.UncompressedSize64)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", f.Name, err)
	}
	defer rc.Close()
	data := make([]byte, f.UncompressedSize64)
	if _, err := io.ReadFull(rc, data); err != nil {
		return nil, fmt.Errorf("record %s: %w", f.Name, err)
	}
	// Reading on to the end checks the record's CRC.
	if n, err := rc.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		if err == nil || err == io.EOF {
			err = errors.New("longer than its header says")
		}
		return nil, fmt.Errorf("record %s: %w", f.Name, err)
	}
	return data, nil
}
