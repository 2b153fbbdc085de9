package servers

import (
	"context"
	"errors"
	"net"
	"net/http"
)

// nbioServing serves h on nbio's event loop.
func (s *Server) nbioServing(h http.Handler) Serving { return nbioUnavailable{} }

// nbioUnavailable refuses to serve until the nbio engine is written.
type nbioUnavailable struct{}

var errNoNBIO = errors.New("servers: the nbio engine is not available")

func (nbioUnavailable) Serve(net.Listener) error       { return errNoNBIO }
func (nbioUnavailable) Shutdown(context.Context) error { return nil }
