package jsonfile

import (
	"errors"
	"io/fs"
	"os"
	"testing"
)

func TestSaveLoadRoundTripAndMissing(t *testing.T) {
	dir := t.TempDir() + "/sub"
	type v struct{ A int }
	if err := Save(dir, "x.json", v{A: 7}); err != nil {
		t.Fatal(err)
	}
	var got v
	if err := Load(dir, "x.json", &got); err != nil || got.A != 7 {
		t.Fatalf("Load = %+v, %v", got, err)
	}
	if es, _ := os.ReadDir(dir); len(es) != 1 {
		t.Fatalf("temporary files left: %v", es)
	}
	if err := Load(dir, "missing.json", &got); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	if err := os.WriteFile(dir+"/bad.json", []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Load(dir, "bad.json", &got); err == nil {
		t.Fatal("malformed JSON accepted")
	}
}
