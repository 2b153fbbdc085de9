'use strict';
// WebSocket: GET /ws?after=SEQ (RFC 6455, docs/contract.md §2), with npm's
// ws on the same http server (noServer).
//
// ws does the handshake, reads the client's frames, answers its pings, sees
// its pongs and close frame, and sends pings and close frames. The event
// messages are text frames built once per event with ws's own Sender.frame
// (event.js) and written straight to the connection's socket, so every
// subscriber shares one buffer per chunk of events instead of ws framing
// every message again for every client; ws.send(json) would write the same
// bytes. They are written only while ws says the connection is OPEN, so
// nothing follows a close frame. Compression is off: every transport carries
// the same bytes.
//
// Close codes. Ours: 1008 for a slow consumer, 1001 at shutdown. ws's own,
// by default, when it reads a bad frame from the client (its Receiver fails,
// it sends a close frame with the error's code and emits 'error', which must
// have a listener):
//   1009 a message over maxPayload (4 KiB here),
//   1007 a text message, or a close reason, that is not valid UTF-8
//        (skipUTF8Validation stays false),
//   1002 a protocol error: an unmasked client frame, RSV bits, an unknown
//        opcode, a fragmented or oversized control frame, a close frame with
//        a one-byte body or an invalid close code.
// It then waits closeTimeout (1 s here, as Go's server) for the client's
// close frame before it destroys the socket, and it reads and discards the
// rest of what the client sends meanwhile, so no reset destroys the close
// frame.

const { WebSocketServer, WebSocket } = require('ws');
const { performance } = require('node:perf_hooks');
const { Subscription, SLOW } = require('./hub');
const { gapJSON, wsTextFrame } = require('./event');
const { refuse, rawText, text } = require('./reply');
const { BadRequest, queryCursor } = require('./cursor');

const READ_LIMIT = 4096; // the largest message a client may send
const CLOSE_GRACE = 1000; // ms a closing connection waits for the client's close frame

/**
 * The WebSocket transport over hub. o: {pingMs, pongWaitMs}. Returns
 * {handle(req, res) for a plain GET /ws, upgrade(req, socket, head),
 * counters}. The hub's close ends every connection with 1001.
 */
function createWS(hub, o) {
  const counters = { active: 0, total: 0, slow: 0 };
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: READ_LIMIT,
    clientTracking: false,
    closeTimeout: CLOSE_GRACE,
    skipUTF8Validation: false,
  });

  /** A GET /ws without an upgrade: 400 for a bad cursor, as always, else
   * 400 asking for the WebSocket protocol (as gorilla/websocket answers). */
  function handle(req, res) {
    try {
      hub.position(queryCursor(req.url));
    } catch (err) {
      refuse(res, err);
      return;
    }
    text(res, 400, 'websocket: the client is not using the websocket protocol', { 'Sec-WebSocket-Version': '13' });
  }

  /** The 'upgrade' event for /ws: a bad cursor is a plain HTTP 400 before
   * upgrading, never a close code after a handshake. */
  function upgrade(req, socket, head) {
    let after;
    try {
      after = queryCursor(req.url);
      hub.position(after);
    } catch (err) {
      if (err instanceof BadRequest) rawText(socket, 400, err.message);
      else rawText(socket, 500, String(err));
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => serve(ws, socket, after));
  }

  /** Streams to one upgraded connection. The head only grows, so the cursor
   * checked before the handshake is still valid. */
  function serve(ws, socket, after) {
    const pos = hub.position(after);
    let ping = null;
    let deadline = null;
    let lastPong = performance.now();

    const sink = {
      kind: 'ws',
      alive: () => ws.readyState === WebSocket.OPEN,
      write: (b) => socket.write(b),
      onDrain: (fn) => socket.once('drain', fn),
      end(why) {
        if (ws.readyState !== WebSocket.OPEN) return;
        // ws sends the close frame after whatever is still buffered and
        // destroys the socket if the client has not answered within
        // closeTimeout.
        if (why === SLOW) ws.close(1008, 'slow consumer');
        else ws.close(1001, 'server shutting down');
      },
    };
    const sub = new Subscription(hub, pos.after, sink, counters);
    counters.total++;
    counters.active++;

    ws.on('error', () => {}); // ws has already sent its close code; 'close' follows
    ws.on('message', () => {}); // clients have nothing to say: discard
    ws.on('pong', () => {
      lastPong = performance.now();
    });
    ws.on('close', () => {
      clearInterval(ping);
      clearTimeout(deadline);
      hub.remove(sub);
      counters.active--;
    });

    // Pings every interval; a client that has not answered any within the
    // pong wait after it was due is terminated. The deadline timer looks at
    // when the last pong came rather than being reset by each one.
    ping = setInterval(() => {
      if (ws.readyState === WebSocket.OPEN) ws.ping();
    }, o.pingMs);
    const limit = o.pingMs + o.pongWaitMs;
    const check = () => {
      const since = performance.now() - lastPong;
      if (since >= limit - 1) {
        ws.terminate();
        return;
      }
      deadline = setTimeout(check, Math.ceil(limit - since));
    };
    deadline = setTimeout(check, limit);

    if (pos.gap) sub.send(wsTextFrame(Buffer.from(gapJSON(pos.gap))));
    hub.add(sub);
  }

  return { handle, upgrade, counters };
}

module.exports = { createWS, READ_LIMIT };
