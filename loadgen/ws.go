package loadgen

import "errors"

// placeholder: replaced by the real client.
func newWSClient(base string, t *Tracker, o Options) (Client, error) {
	return nil, errors.New("ws client: not yet written")
}
