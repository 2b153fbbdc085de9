package servers

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/internal/tlscert"
)

// ShutdownTimeout bounds a graceful stop; streams have already been ended
// by then, so only in-flight polls remain.
const ShutdownTimeout = 5 * time.Second

// Addrs are where a served process listens.
type Addrs struct {
	HTTP string // every HTTP transport, /stats and /control
	TCP  string // the plain-TCP floor; "" for none
	TLS  string // HTTPS, HTTP/2 by ALPN, with a certificate made at start; "" for none
	H2C  bool   // also take HTTP/2 with prior knowledge on HTTP
}

// Listeners are a Server's open listeners, every connection counted
// against Options.MaxConns, until Serve.
type Listeners struct {
	s         *Server
	h2c       bool
	http, tcp net.Listener
	tls       net.Listener // nil without Addrs.TLS
}

// Listen opens a's listeners for s. It refuses to serve /control beyond
// loopback without Options.ControlToken (anyone on the network could start
// and stop the generator), and HTTPS on an engine other than net/http's,
// which serves cleartext HTTP/1.1 only.
func (s *Server) Listen(a Addrs) (_ *Listeners, err error) {
	if a.TLS != "" && s.engine != NetHTTP {
		return nil, fmt.Errorf("HTTPS: %s's engine serves cleartext HTTP/1.1 only", s.engine)
	}
	l := &Listeners{s: s, h2c: a.H2C}
	defer func() {
		if err != nil {
			err = errors.Join(err, l.close())
		}
	}()
	if l.http, err = net.Listen("tcp", a.HTTP); err != nil {
		return nil, err
	}
	if a.TCP != "" {
		if l.tcp, err = net.Listen("tcp", a.TCP); err != nil {
			return nil, err
		}
	}
	if a.TLS != "" {
		if l.tls, err = net.Listen("tcp", a.TLS); err != nil {
			return nil, err
		}
	}
	if s.o.ControlToken == "" {
		for _, ln := range []net.Listener{l.http, l.tls} { // the TCP floor has no /control
			if ln != nil && !Loopback(ln.Addr()) {
				return nil, fmt.Errorf("listening on %s, beyond loopback, anyone who can reach it could start and stop the generator: "+
					"set a control token (serve --control-token or $%s; see docs/sharding.md), or listen on 127.0.0.1", ln.Addr(), contract.TokenEnv)
			}
		}
	}
	l.http, l.tcp = s.Listener(l.http), gated(s, l.tcp)
	if l.tls != nil {
		cert, _, err := tlscert.SelfSigned(time.Now())
		if err != nil {
			return nil, fmt.Errorf("HTTPS: %w", err)
		}
		// Counted as accepted, under TLS.
		l.tls = tls.NewListener(s.Listener(l.tls), &tls.Config{
			Certificates: []tls.Certificate{cert},
			NextProtos:   []string{"h2", "http/1.1"},
		})
	}
	return l, nil
}

// gated is s.Listener(ln), or nil without ln.
func gated(s *Server, ln net.Listener) net.Listener {
	if ln == nil {
		return nil
	}
	return s.Listener(ln)
}

// URLs are where l listens: http://, and tcp:// and https:// or "" when
// not asked for.
func (l *Listeners) URLs() (httpURL, tcpURL, httpsURL string) {
	httpURL = "http://" + l.http.Addr().String()
	if l.tcp != nil {
		tcpURL = "tcp://" + l.tcp.Addr().String()
	}
	if l.tls != nil {
		httpsURL = "https://" + l.tls.Addr().String()
	}
	return httpURL, tcpURL, httpsURL
}

// Serve serves h (the Server itself, or a handler wrapping it) on every
// listener, calls ready once they all accept, and runs until ctx ends or a
// listener fails. Then it stops everything and waits for it: the streams
// first, by closing the Server (a graceful shutdown waits for SSE
// responses, which only the closed hub ends), then the HTTP servers within
// ShutdownTimeout. An error from ready stops it at once.
func (l *Listeners) Serve(ctx context.Context, h http.Handler, ready func() error) error {
	s := l.s
	// net/http's server, or nbio's event loop for an implementation on it.
	hs := s.Serving(h, l.h2c)
	httpDone := make(chan error, 1)
	go func() { httpDone <- ignoreClosed(hs.Serve(l.http)) }()
	// TLS gets a server of its own: one http.Server running both Serve and
	// ServeTLS drops HTTP/2 requests (Go 1.26).
	var tlsSrv *http.Server
	var tlsDone chan error // stays nil, never ready, without TLS
	if l.tls != nil {
		tlsSrv = s.HTTPServer(h, false)
		tlsDone = make(chan error, 1)
		go func() { tlsDone <- ignoreClosed(tlsSrv.Serve(l.tls)) }()
	}
	tcpCtx, stopTCP := context.WithCancel(context.Background())
	defer stopTCP()
	var tcpDone chan error // stays nil, never ready, without the floor
	if l.tcp != nil {
		floor := NewTCP(s.hub, &s.o)
		s.SetTCP(floor)
		tcpDone = make(chan error, 1)
		go func() { tcpDone <- floor.Serve(tcpCtx, l.tcp) }()
	}
	stop := func() error {
		s.Close()
		stopTCP()
		sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		defer cancel()
		err := errors.Join(hs.Shutdown(sctx), <-httpDone)
		if tlsSrv != nil {
			err = errors.Join(err, tlsSrv.Shutdown(sctx), <-tlsDone)
		}
		if tcpDone != nil {
			err = errors.Join(err, <-tcpDone)
		}
		return err
	}
	if err := ready(); err != nil {
		return errors.Join(err, stop())
	}
	select {
	case err := <-httpDone:
		httpDone <- err // stop receives it again
	case err := <-tcpDone:
		tcpDone <- err
	case err := <-tlsDone:
		tlsDone <- err
	case <-ctx.Done():
	}
	return stop()
}

// close closes whatever Listen opened, on its error path.
func (l *Listeners) close() error {
	var err error
	for _, ln := range []net.Listener{l.http, l.tcp, l.tls} {
		if ln != nil {
			err = errors.Join(err, ln.Close())
		}
	}
	return err
}

// ignoreClosed drops the error Serve returns after a Shutdown or Close.
func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
