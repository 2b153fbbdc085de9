package servers

import (
	"encoding/binary"
	"net"
)

// clientFrames watches the frame headers a WebSocket client sends on their
// way to gorilla, for the one thing gorilla does not tell: the length of a
// close frame's body. gorilla reads a 1-byte close body as "no status"
// (1005), as it does an empty one, and answers it with an empty close
// frame; RFC 6455 §5.5.1 makes a body that is not a 2-byte code and a
// reason a protocol error (1002). Only the frame tells the two apart.
//
// It parses headers and skips payloads, a few comparisons per read. Only
// the connection's reader calls Read, so it needs no lock.
type clientFrames struct {
	net.Conn
	hdr  [14]byte // the header being read: 2 bytes, up to 8 of length, 4 of mask
	n    int      // bytes of it read
	need int      // its length, once its second byte is known; 2 before
	skip uint64   // payload bytes of the current frame still to pass
	// firstClose is the body length of the client's first close frame, the
	// one gorilla acts on; -1 before one.
	firstClose int64
}

func newClientFrames(c net.Conn) *clientFrames {
	return &clientFrames{Conn: c, need: 2, firstClose: -1}
}

func (f *clientFrames) Read(p []byte) (int, error) {
	n, err := f.Conn.Read(p)
	f.scan(p[:n])
	return n, err
}

// scan advances the parser over b, the next bytes from the client.
func (f *clientFrames) scan(b []byte) {
	for len(b) > 0 {
		if f.skip > 0 {
			k := min(uint64(len(b)), f.skip)
			f.skip -= k
			b = b[k:]
			continue
		}
		f.hdr[f.n] = b[0]
		f.n++
		b = b[1:]
		if f.n == 2 {
			f.need = 2
			switch f.hdr[1] & 0x7f {
			case 126:
				f.need += 2
			case 127:
				f.need += 8
			}
			if f.hdr[1]&0x80 != 0 { // masked, as every client frame must be
				f.need += 4
			}
		}
		if f.n < f.need {
			continue
		}
		length := uint64(f.hdr[1] & 0x7f)
		switch length {
		case 126:
			length = uint64(binary.BigEndian.Uint16(f.hdr[2:4]))
		case 127:
			length = binary.BigEndian.Uint64(f.hdr[2:10])
		}
		if f.hdr[0]&0x0f == 0x8 && f.firstClose < 0 { // opcode close
			f.firstClose = int64(min(length, 1<<62))
		}
		f.skip = length
		f.n, f.need = 0, 2
	}
}
