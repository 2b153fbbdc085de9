package conform

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/pushbench/pushbench/contract"
)

// Status is a check's outcome.
type Status string

// The outcomes: a skip is a check that could not be made (a transport not
// offered, a liveness wait too short for the server's timers, something the
// check needs that the server lacks) and says why.
const (
	Pass Status = "pass"
	Fail Status = "fail"
	Skip Status = "skip"
)

// Result is one check's outcome.
type Result struct {
	// Transport is the transport checked, or Server for the server as a
	// whole.
	Transport string `json:"transport"`
	// Check names what was checked.
	Check  string `json:"check"`
	Status Status `json:"status"`
	// Why says what was wrong, why the check was skipped, or, for a pass,
	// what was seen (informational lines).
	Why string `json:"why,omitempty"`
}

// column is the width of the transport column: the longest name it holds.
var column = func() int {
	n := len(Server)
	for _, t := range Transports {
		n = max(n, len(t))
	}
	return n
}()

// String is the result as one line:
//
//	PASS sse      retry: frame first
//	FAIL ws       close 1009 for a 64 KiB message: got 1006 (connection dropped)
func (res Result) String() string {
	s := fmt.Sprintf("%s %-*s %s", strings.ToUpper(string(res.Status)), column, res.Transport, res.Check)
	if res.Why != "" {
		s += ": " + res.Why
	}
	return s
}

// Report is every check's outcome, in the order they were made.
type Report struct {
	// URL is the server checked.
	URL     string   `json:"url"`
	Results []Result `json:"results"`
}

// Count is how many results have status s.
func (r Report) Count(s Status) int {
	n := 0
	for _, res := range r.Results {
		if res.Status == s {
			n++
		}
	}
	return n
}

// OK reports whether no check failed.
func (r Report) OK() bool { return r.Count(Fail) == 0 }

// Summary is the report's last line: how many checks passed, failed and were
// skipped.
func (r Report) Summary() string {
	return fmt.Sprintf("conform %s: %d passed, %d failed, %d skipped (contract version %d)",
		r.URL, r.Count(Pass), r.Count(Fail), r.Count(Skip), contract.Version)
}

// Text writes one line per result, then the summary.
func (r Report) Text(w io.Writer) error {
	var b strings.Builder
	for _, res := range r.Results {
		b.WriteString(res.String())
		b.WriteByte('\n')
	}
	b.WriteString(r.Summary())
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}

// JSON writes the report as one JSON object, with the counts.
func (r Report) JSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(struct {
		Report
		Contract int  `json:"contract"`
		Passed   int  `json:"passed"`
		Failed   int  `json:"failed"`
		Skipped  int  `json:"skipped"`
		OK       bool `json:"ok"`
	}{r, contract.Version, r.Count(Pass), r.Count(Fail), r.Count(Skip), r.OK()})
}
