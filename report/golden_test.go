package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// golden compares got with testdata/name.golden, or rewrites it under
// -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s (run go test -update if the change is intended):\n%s", name, path, got)
	}
}

func render(t *testing.T, rep Reporter) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := rep(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestGoldenRunsTable(t *testing.T) {
	r := defaultFixture().report(t)
	var buf bytes.Buffer
	if err := WriteTable(&buf, r.RunsOf("fanout")[:4]); err != nil {
		t.Fatal(err)
	}
	golden(t, "runs_table.txt", buf.Bytes())
}

func TestGoldenGroupsTable(t *testing.T) {
	r := defaultFixture().report(t)
	gs := groupRuns(r.RunsOf("fanout"))
	golden(t, "groups_table.txt", render(t, newGroupsTable(gs, styleText)))
	golden(t, "groups_table.md", render(t, newGroupsTable(gs, styleMarkdown)))
}

func TestGoldenTextReport(t *testing.T) {
	golden(t, "report.txt", render(t, NewTextReport(defaultFixture().report(t))))
}

func TestGoldenMarkdownReport(t *testing.T) {
	r := defaultFixture().report(t)
	plots := []string{
		"plots/fanout/latency-100-clients-10-per-s-64B.png",
		"plots/poll-interval/polling-200-clients-10-per-s-64B.png",
		"plots/elsewhere/other.png",
	}
	golden(t, "report.md", render(t, newMarkdownReport(r, plots)))
}
