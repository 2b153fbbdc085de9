package loadgen

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// Sources are bound without a port, so connections from a 127.0.0.x
// address work and the port is the kernel's choice at connect.
func TestDialerBindsSourcesWithoutPort(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(r.RemoteAddr))
	}))
	defer hs.Close()
	d := NewDialer(net.IPv4(127, 0, 0, 2), net.IPv4(127, 0, 0, 3))
	for range 4 {
		c, err := d.DialContext(context.Background(), "tcp", hs.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		host := c.LocalAddr().String()
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if host[:9] != "127.0.0.2" && host[:9] != "127.0.0.3" {
			t.Fatalf("dialled from %s", host)
		}
	}
	if s := d.Stats(); s.Established != 4 || s.Connect == nil || s.Connect.TotalCount() != 4 {
		t.Fatalf("stats %+v", s)
	}
}
