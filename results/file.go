package results

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// SchemaVersion is the layout of results.json this package writes. Version
// 1 (files without a schema field) summarised a fault run's latencies in
// milliseconds and its delivery account under other names; Decode reads it
// into this version's types, so old reports still render.
const SchemaVersion = 2

// Load reads dir/results.json.
func Load(dir string) (*Report, error) {
	f, err := os.Open(filepath.Join(dir, FileName))
	if err != nil {
		return nil, fmt.Errorf("load report: %w", err)
	}
	defer f.Close()
	r, err := Decode(f)
	if err != nil {
		return nil, fmt.Errorf("load report %s: %w", f.Name(), err)
	}
	return r, nil
}

// Decode reads a report in results.json form from rd, of this version or an
// earlier one. Fields it does not know are ignored, so a report written by a
// newer pushbench still renders.
func Decode(rd io.Reader) (*Report, error) {
	b, err := io.ReadAll(rd)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	if r.Schema < 2 {
		if err := upgradeV1(b, &r); err != nil {
			return nil, err
		}
	}
	r.Schema = SchemaVersion
	if len(r.Runs) == 0 && len(r.Capacity) == 0 && len(r.Faults) == 0 && len(r.Loads) == 0 {
		return nil, ErrNoRuns
	}
	return &r, nil
}

// Save writes r to dir/results.json, creating dir if needed. It writes a
// temporary file and renames it, so an interrupted save never leaves a
// truncated results.json behind the previous one.
func (r *Report) Save(dir string) error {
	r.Schema = SchemaVersion
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("save report: %w", err)
	}
	return writeFileAtomic(filepath.Join(dir, FileName), append(b, '\n'))
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory and a rename.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(f.Name()) // best effort: the error that matters is err
		}
	}()
	if _, err := io.Copy(f, bytes.NewReader(data)); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
