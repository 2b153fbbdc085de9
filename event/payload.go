package event

// Types are the event names a generated stream cycles through. The stream
// mixes more than one so that SSE's "event:" field is exercised on every run.
var Types = []string{"tick", "quote"}

// TypeOf is the type of the event with sequence number seq.
func TypeOf(seq uint64) string { return Types[seq%uint64(len(Types))] }

// Payload is the data of event seq when payloads are size bytes long. It is a
// pure function of (seq, size), so any party can check a payload it received,
// and it is printable ASCII that needs no JSON escaping, so the wire carries
// exactly size bytes of data.
func Payload(seq uint64, size int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, size)
	off := int(seq % uint64(len(alphabet)))
	for i := range b {
		b[i] = alphabet[(off+i)%len(alphabet)]
	}
	return string(b)
}

// New builds the event with sequence number seq scheduled at at (Unix ns)
// carrying a generated payload of size bytes.
func New(seq uint64, at int64, size int) Event {
	return Event{Seq: seq, At: at, Type: TypeOf(seq), Data: Payload(seq, size)}
}
