'use strict';
// Server-Sent Events: GET /sse?after=SEQ, or a reconnect with Last-Event-ID
// (docs/contract.md §2), over node:http.
//
// The stream opens with `retry: MS` and a blank line, then the gap signal if
// the cursor was older than the history, then one frame per event:
//   id: SEQ\nevent: TYPE\ndata: EVENT\n\n
// Each event's frame is built once and shared; everything a subscriber is
// owed is gathered into one write (hub.chunk). A stream silent for the
// heartbeat interval gets a comment line, `: hb` and a blank line.

const { performance } = require('node:perf_hooks');
const { Subscription, SLOW } = require('./hub');
const { gapSSEFrame } = require('./event');
const { sseCursor } = require('./cursor');
const { refuse, notAllowed } = require('./reply');

const HEARTBEAT = Buffer.from(': hb\n\n');

/**
 * The SSE transport over hub. o: {retryMs, retryJitter, heartbeatMs}.
 * With retryJitter each stream asks for its own delay, drawn uniformly from
 * [0, 2·retryMs]: an EventSource waits exactly what retry: says, so without
 * it every browser dropped by one restart comes back in the same instant.
 * Returns {handle(req, res), counters}.
 */
function createSSE(hub, o) {
  const counters = { active: 0, total: 0, slow: 0 };
  const fixedRetry = Buffer.from(`retry: ${o.retryMs}\n\n`);
  const retryFrame = () =>
    o.retryJitter ? Buffer.from(`retry: ${Math.floor(Math.random() * (2 * o.retryMs + 1))}\n\n`) : fixedRetry;
  const heartbeatMs = o.heartbeatMs;

  function handle(req, res) {
    if (req.method !== 'GET') {
      notAllowed(res, 'GET', 'subscribe with GET');
      return;
    }
    let pos;
    try {
      pos = hub.position(sseCursor(req));
    } catch (err) {
      refuse(res, err);
      return;
    }
    res.writeHead(200, {
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-cache',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no', // nginx would otherwise buffer the stream
    });

    let hb = null;
    const sink = {
      kind: 'sse',
      alive: () => !res.destroyed && !res.writableEnded,
      write: (b) => res.write(b),
      onDrain: (fn) => res.once('drain', fn),
      end(why) {
        clearTimeout(hb);
        // A slow client's stream is cut mid-stream: it sees an interrupted
        // stream and resumes from its cursor, and no closing chunk waits on
        // a client known to be slow. At shutdown the response ends.
        if (why === SLOW) res.destroy();
        else res.end();
      },
    };
    const sub = new Subscription(hub, pos.after, sink, counters);
    counters.total++;
    counters.active++;
    res.on('close', () => {
      clearTimeout(hb);
      hub.remove(sub);
      counters.active--;
    });

    // The gap goes first, so the client knows what it missed before it sees
    // an event; its id lets a reconnect skip the missing events.
    const first = retryFrame();
    sub.send(pos.gap ? Buffer.concat([first, Buffer.from(gapSSEFrame(pos.gap))]) : first);

    // Heartbeats are for silent streams only: the timer looks at when the
    // stream last wrote, rather than being reset on every write.
    const beat = () => {
      hb = null;
      if (sub.done) return;
      const silent = performance.now() - sub.lastWrite;
      if (silent >= heartbeatMs - 1) {
        sub.send(HEARTBEAT);
        hb = setTimeout(beat, heartbeatMs);
      } else {
        hb = setTimeout(beat, Math.ceil(heartbeatMs - silent));
      }
    };
    hb = setTimeout(beat, heartbeatMs);

    hub.add(sub);
  }

  return { handle, counters };
}

module.exports = { createSSE };
