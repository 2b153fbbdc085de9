package loadgen

import "errors"

// placeholder: replaced by the real client.
func newPollClient(base string, t *Tracker, o Options) (Client, error) {
	return nil, errors.New("poll client: not yet written")
}
