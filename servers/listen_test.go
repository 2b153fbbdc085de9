package servers

import (
	"strings"
	"testing"

	"github.com/pushbench/pushbench/contract"
)

// /control beyond loopback needs a token: Listen refuses an HTTP or HTTPS
// listener on every interface without one, naming how to set one, and opens
// it with one; on loopback it needs none.
func TestListenBeyondLoopbackNeedsAToken(t *testing.T) {
	listen := func(token string, a Addrs) error {
		s, err := New(NewHub(nil), &Options{ControlToken: token})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		l, err := s.Listen(a)
		if err != nil {
			return err
		}
		return l.close()
	}
	if err := listen("", Addrs{HTTP: "127.0.0.1:0", TCP: "0.0.0.0:0"}); err != nil {
		t.Fatalf("loopback without a token (the TCP floor has no /control): %v", err)
	}
	for _, a := range []Addrs{{HTTP: "0.0.0.0:0"}, {HTTP: "127.0.0.1:0", TLS: "0.0.0.0:0"}} {
		err := listen("", a)
		if err == nil || !strings.Contains(err.Error(), "beyond loopback") || !strings.Contains(err.Error(), "--control-token") || !strings.Contains(err.Error(), contract.TokenEnv) {
			t.Fatalf("%+v without a token: %v, want a refusal naming --control-token and %s", a, err, contract.TokenEnv)
		}
		if err := listen("s3cret", a); err != nil {
			t.Fatalf("%+v with a token: %v", a, err)
		}
	}
}
