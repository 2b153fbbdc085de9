// Package jsonfile saves and loads the JSON outcomes a report directory
// holds beside results.json (browser.json, proxy.json), so that
// every scenario package writes them the same safe way.
package jsonfile

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pushbench/pushbench/internal/atomicfile"
)

// Save writes v as indented JSON to dir/name, creating dir if needed,
// through a temporary file and a rename, so a reader never sees half of it.
func Save(dir, name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, name), append(b, '\n'))
}

// Load reads dir/name into v. A missing file gives an error that
// errors.Is(err, fs.ErrNotExist) recognizes.
func Load(dir, name string, v any) error {
	path := filepath.Join(dir, name)
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
