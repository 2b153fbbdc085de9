package loadgen

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"

	"github.com/gorilla/websocket"

	"github.com/pushbench/pushbench/results"
)

// Failure is a kind of failed connection attempt or ended connection, as a
// Tracker counts them (Counts.Errors). Each kind is a field of
// results.Errors, and its String is that field's name in results.json.
type Failure int

// Failure kinds, in the order a failure is classified: the first that fits.
const (
	FailHeaderTooLarge Failure = iota // ErrHeaderTooLarge
	FailTooLong                       // a message, line, event or answer over the client's limit
	FailConnect                       // the connection could not be opened
	FailStatus                        // an answer the client does not stream from
	FailTimeout                       // silent for ReadTimeout
	FailClosed                        // closed or reset by the server, or the stream ended
	FailProtocol                      // anything else: broken HTTP, TLS, WebSocket or framing
	numFailures
)

var failureNames = [numFailures]string{
	"header_too_large", "too_long", "connect", "status", "timeout", "closed", "protocol",
}

func (f Failure) String() string {
	if f < 0 || f >= numFailures {
		return "unknown"
	}
	return failureNames[f]
}

// errServerStatus marks an answer with a 5xx status, which the polling and
// WebSocket clients retry.
var errServerStatus = errors.New("server error")

// dialError marks an error from opening a connection, so that it counts as
// FailConnect whatever its cause (a refusal, a timeout, a custom Dial's own
// error).
type dialError struct{ err error }

func (e dialError) Error() string { return e.err.Error() }
func (e dialError) Unwrap() error { return e.err }

// classify returns the kind of failure err is. err is what ended a
// connection attempt or a connection while the client still meant to run.
func classify(err error) Failure {
	var (
		de dialError
		op *net.OpError
		ne net.Error
		ce *websocket.CloseError
	)
	switch {
	case errors.Is(err, ErrHeaderTooLarge):
		return FailHeaderTooLarge
	case errors.Is(err, ErrSSETooLong), errors.Is(err, ErrPollTooLong), errors.Is(err, errTooLong),
		errors.Is(err, websocket.ErrReadLimit), errors.Is(err, ErrTCPLineTooLong):
		return FailTooLong
	case errors.As(err, &de), errors.As(err, &op) && op.Op == "dial":
		return FailConnect
	case errors.Is(err, ErrSSEStatus), errors.Is(err, ErrSSEContentType), errors.Is(err, ErrSSERedirects),
		errors.Is(err, ErrPollRejected), errors.Is(err, errServerStatus), errors.Is(err, ErrWSRejected),
		errors.Is(err, websocket.ErrBadHandshake), errors.Is(err, ErrTCPRefused):
		return FailStatus
	case errors.Is(err, errSSEIdle), errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return FailTimeout
	case errors.Is(err, ErrWSProtocol):
		return FailProtocol // a close with a protocol error's code
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED),
		errors.As(err, &ce):
		return FailClosed
	}
	return FailProtocol
}

// failures is a Tracker's count per kind.
type failures [numFailures]atomic.Uint64

// errors returns the counts as results.Errors.
func (f *failures) errors() results.Errors {
	return results.Errors{
		HeaderTooLarge: f[FailHeaderTooLarge].Load(),
		TooLong:        f[FailTooLong].Load(),
		Connect:        f[FailConnect].Load(),
		Status:         f[FailStatus].Load(),
		Timeout:        f[FailTimeout].Load(),
		Closed:         f[FailClosed].Load(),
		Protocol:       f[FailProtocol].Load(),
	}
}
