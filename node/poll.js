'use strict';
// Short polling, GET|HEAD /poll?after=SEQ, and long polling,
// GET|HEAD /longpoll?after=SEQ (docs/contract.md §2), over node:http.
//
// 200 {"events":[EVENT,…],"next":SEQ,"more":BOOL[,"gap":{"from":F,"to":T}]}
// with at most poll-batch events, each in its canonical encoding, or 204
// when nothing is newer than the cursor. A long poll with nothing newer is
// held until the next publish, or answered 204 when the hold passes.
// Answers are read straight from the hub's history (a poll never
// subscribes), built by joining the events' encoded bytes, and kept until the
// next publish so that clients at the same cursor share one.

const { queryCursor } = require('./cursor');
const { refuse, notAllowed } = require('./reply');

const OPEN = Buffer.from('{"events":[');
const COMMA = Buffer.from(',');

/**
 * The polling transports over hub. o: {batch, longpollWaitMs}. Returns
 * {poll(req, res), longpoll(req, res), counters, held, shutdown()}.
 */
function createPoll(hub, o) {
  const counters = {
    poll: { requests: 0, empty: 0 },
    longpoll: { requests: 0, empty: 0 },
  };
  const held = new Set(); // long polls waiting: {res, timer}

  /** The 200 body for a client at `pos`, or null when there is nothing to
   * say (no events, no gap). */
  function body(cursor, pos) {
    if (pos.after >= hub.head && pos.gap === null) return null;
    const key = 'p' + cursor;
    const m = hub.memo.get(key);
    if (m !== undefined) return m;
    const last = Math.min(hub.head, pos.after + o.batch);
    const parts = [OPEN];
    for (let seq = pos.after + 1; seq <= last; seq++) {
      if (seq > pos.after + 1) parts.push(COMMA);
      parts.push(hub.entry(seq).json);
    }
    // next is the last event's seq. Events published later are waiting too,
    // so a racing publish can only make more true, never hide an event.
    const next = last > pos.after ? last : pos.after;
    let tail = `],"next":${next},"more":${next < hub.head}`;
    if (pos.gap !== null) tail += `,"gap":{"from":${pos.gap.from},"to":${pos.gap.to}}`;
    parts.push(Buffer.from(tail + '}'));
    const b = Buffer.concat(parts);
    if (hub.memo.size < 32) hub.memo.set(key, b);
    return b;
  }

  function answer(req, res, b) {
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Cache-Control': 'no-store',
      'Content-Length': b.length,
    });
    res.end(req.method === 'HEAD' ? undefined : b);
  }

  function empty(res, c) {
    c.empty++;
    res.writeHead(204, { 'Cache-Control': 'no-store' });
    res.end();
  }

  /** Reads the cursor and answers at once if there is something to say;
   * returns the cursor and position to hold on, or null when answered. */
  function start(req, res, c) {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      notAllowed(res, 'GET, HEAD', 'poll with GET');
      return null;
    }
    c.requests++;
    let cursor;
    let pos;
    try {
      cursor = queryCursor(req.url);
      pos = hub.position(cursor);
    } catch (err) {
      refuse(res, err);
      return null;
    }
    const b = body(cursor, pos);
    if (b !== null) {
      answer(req, res, b);
      return null;
    }
    return { cursor, pos };
  }

  function poll(req, res) {
    if (start(req, res, counters.poll) !== null) empty(res, counters.poll);
  }

  function longpoll(req, res) {
    const at = start(req, res, counters.longpoll);
    if (at === null) return;
    // Held until the next publish (nothing is newer until then) or the hold
    // passes; a client that leaves is forgotten.
    const h = { res, timer: null, wake: null };
    const done = () => {
      clearTimeout(h.timer);
      hub.waiters.delete(h.wake);
      held.delete(h);
    };
    h.wake = () => {
      done();
      if (res.destroyed) return;
      const b = body(at.cursor, hub.position(at.cursor));
      if (b !== null) answer(req, res, b);
      else empty(res, counters.longpoll);
    };
    h.timer = setTimeout(() => {
      done();
      if (!res.destroyed) empty(res, counters.longpoll);
    }, o.longpollWaitMs);
    res.on('close', done);
    held.add(h);
    hub.waiters.add(h.wake);
  }

  /** At shutdown: every held long poll is answered 503 and its connection
   * closed, as any new request would be. */
  function shutdown() {
    for (const h of [...held]) {
      clearTimeout(h.timer);
      hub.waiters.delete(h.wake);
      held.delete(h);
      if (!h.res.destroyed && !h.res.headersSent) {
        const msg = 'server is shutting down\n';
        h.res.writeHead(503, {
          'Content-Type': 'text/plain; charset=utf-8',
          'Content-Length': msg.length,
          Connection: 'close',
        });
        h.res.end(msg);
      }
    }
  }

  return { poll, longpoll, counters, held, shutdown };
}

module.exports = { createPoll };
