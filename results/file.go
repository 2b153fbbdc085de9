package results

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/pushbench/pushbench/internal/atomicfile"
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

// LoadSessions reads path as compare takes it: a results.json file, a
// directory holding one, or a directory whose subdirectories each hold one
// (several sessions, in name order).
func LoadSessions(path string) ([]*Report, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r, err := Decode(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return []*Report{r}, nil
	}
	dirs := []string{path}
	if _, err := os.Stat(filepath.Join(path, FileName)); err != nil {
		subs, err := filepath.Glob(filepath.Join(path, "*", FileName)) // sorted
		if err != nil {
			return nil, err
		}
		if len(subs) == 0 {
			return nil, fmt.Errorf("%s holds no %s, nor do its subdirectories", path, FileName)
		}
		dirs = dirs[:0]
		for _, s := range subs {
			dirs = append(dirs, filepath.Dir(s))
		}
	}
	var out []*Report
	for _, d := range dirs {
		r, err := Load(d)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
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
	return atomicfile.Write(filepath.Join(dir, FileName), append(b, '\n'))
}
