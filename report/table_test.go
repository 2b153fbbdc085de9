package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/pushbench/pushbench/results"
)

// Events whose data is not an event's JSON cannot be accounted, so they
// count as lost; the table says they arrived malformed, so they do not read
// as a network loss.
func TestRunTableShowsMalformedBesideLost(t *testing.T) {
	run := results.Run{Transport: "sse", Clients: 1, Rate: 10, Delivery: results.Delivery{Expected: 5, Delivered: 2, Lost: 3, Malformed: 3}}
	var buf bytes.Buffer
	if err := WriteTable(&buf, []results.Run{run}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "3 (3 malformed)") {
		t.Fatalf("table does not show the malformed messages beside the lost events:\n%s", buf.String())
	}
	run.Malformed = 0
	buf.Reset()
	if err := WriteTable(&buf, []results.Run{run}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "malformed") {
		t.Fatalf("a run without malformed messages mentions them:\n%s", buf.String())
	}
}
