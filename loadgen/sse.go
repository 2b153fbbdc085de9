package loadgen

import "errors"

// placeholder: replaced by the real client.
func newSSEClient(base string, t *Tracker, o Options) (Client, error) {
	return nil, errors.New("sse client: not yet written")
}
