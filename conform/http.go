package conform

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/loadgen"
)

// maxBody bounds an answer's body: a poll answer, as the polling clients
// bound it.
const maxBody = loadgen.MaxPollBody

// errNoAnswer is a request that got no answer within its timeout.
var errNoAnswer = errors.New("no answer")

// answer is a response read in full.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// mediaType is the answer's Content-Type without parameters.
func (a answer) mediaType() string {
	mt, _, err := mime.ParseMediaType(a.header.Get("Content-Type"))
	if err != nil {
		return a.header.Get("Content-Type")
	}
	return mt
}

// String names the answer for a failure: its status and the start of its
// body, which for a refusal says why.
func (a answer) String() string {
	s := strconv.Itoa(a.status) + " " + http.StatusText(a.status)
	if b := bytes.TrimSpace(a.body); len(b) > 0 {
		s += " " + quote(b)
	}
	return s
}

// hasDirective says whether a header value lists directive d
// (Cache-Control: no-cache, for example), in any case.
func hasDirective(value, d string) bool {
	for v := range strings.SplitSeq(value, ",") {
		if strings.EqualFold(strings.TrimSpace(v), d) {
			return true
		}
	}
	return false
}

// quote quotes what a server sent, cut short: it goes on one line of a
// report. Backquotes keep JSON readable; anything they cannot hold is
// quoted with escapes.
func quote(b []byte) string {
	const n = 120
	s, more := string(b), ""
	if len(s) > n {
		s, more = s[:n], "…"
	}
	if strconv.CanBackquote(s) {
		return "`" + s + "`" + more
	}
	return strconv.Quote(s) + more
}

// request makes one request under timeout and reads its answer. The body of
// a 200 event stream is not read (it would not end); anything else is read
// to its end, up to maxBody.
func (r *run) request(ctx context.Context, method, path, query string, hdr http.Header, timeout time.Duration) (answer, error) {
	u := r.o.URL + path
	if query != "" {
		u += "?" + query
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return answer{}, err
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return answer{}, doErr(method, path, err, timeout)
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, header: resp.Header}
	if a.status == http.StatusOK && a.mediaType() == "text/event-stream" {
		return a, nil
	}
	a.body, err = io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("body not read in full within %v", timeout)
		}
		return a, fmt.Errorf("%s %s: %d answer: %w", method, path, a.status, err)
	}
	if len(a.body) > maxBody {
		return a, fmt.Errorf("%s %s: answer longer than %d bytes", method, path, maxBody)
	}
	return a, nil
}

// doErr says why a request got no answer, without the URL the report
// already names.
func doErr(method, path string, err error, timeout time.Duration) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s %s: %w within %v", method, path, errNoAnswer, timeout)
	}
	return fmt.Errorf("%s %s: %w", method, path, unwrapURL(err))
}

// unwrapURL drops the URL net/http's errors repeat.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// get is a GET request.
func (r *run) get(ctx context.Context, path, query string, hdr http.Header, timeout time.Duration) (answer, error) {
	return r.request(ctx, http.MethodGet, path, query, hdr, timeout)
}

// control makes a POST to /control/*, with the token if withToken.
func (r *run) control(ctx context.Context, path, query string, withToken bool) (answer, error) {
	var hdr http.Header
	if withToken && r.o.Token != "" {
		hdr = http.Header{"Authorization": {contract.TokenScheme + " " + r.o.Token}}
	}
	return r.request(ctx, http.MethodPost, path, query, hdr, r.o.Timeout)
}

// after is the query asking for the events after cursor.
func after(cursor uint64) string { return "after=" + strconv.FormatUint(cursor, 10) }
