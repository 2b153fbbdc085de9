'use strict';
// The one event stream behind every transport: a bounded history ring and a
// set of subscribers (docs/contract.md §1, §3).
//
// A subscriber owns no queue of events. It holds a cursor into the shared
// ring (the last seq handed to its socket); on publish the hub lets each one
// write what it has not yet been given, unless its socket is backed up, in
// which case it waits for 'drain' and catches up from its cursor. Its queue
// is the distance from its cursor to the head; when that exceeds max-lag the
// hub cuts it off rather than wait for it. A broadcast never waits on one
// client.

const { performance } = require('node:perf_hooks');
const { BadRequest } = require('./cursor');

const DEFAULT_HISTORY = 16384;
const DEFAULT_MAX_LAG = 4096;

// The most events, and about the most bytes, one write to a streaming
// subscriber carries. The cursor advances when events are handed to the
// socket, so a bounded chunk keeps a stalled connection from hiding its lag
// in its own buffer.
const CHUNK_EVENTS = 64;
const CHUNK_BYTES = 32 << 10;

// How many prepared chunks and poll answers the hub keeps until the next
// publish. Subscribers that have taken everything all start their next chunk
// at the same seq, so one chunk serves them all.
const MEMO_LIMIT = 32;

/** Why a subscription ended. */
const SLOW = 'slow'; // more than max-lag behind, or a write stuck past the write timeout
const CLOSED = 'closed'; // the server is shutting down

class Hub {
  /**
   * @param {{history?: number, maxLag?: number, writeTimeout?: number}} o
   * history: events kept for resuming clients; maxLag: events a subscriber
   * may lag (clamped, as Go's hub does, to half the history, leaving room for
   * a burst so that a cut-off client can resume without a gap); writeTimeout:
   * ms a backed-up socket may take to drain.
   */
  constructor(o = {}) {
    this.size = o.history > 0 ? o.history : DEFAULT_HISTORY;
    const lag = o.maxLag > 0 ? o.maxLag : DEFAULT_MAX_LAG;
    this.maxLag = Math.max(1, Math.min(lag, Math.floor(this.size / 2)));
    this.writeTimeout = o.writeTimeout > 0 ? o.writeTimeout : 10000;
    this.ring = new Array(this.size);
    this.head = 0; // newest seq published; 0 before any
    this.subs = new Set();
    this.waiters = new Set(); // functions called after each publish (held long polls)
    this.slowDropped = 0;
    this.closed = false;
    this.memo = new Map(); // prepared bytes, valid until the next publish
    this.now = performance.now(); // refreshed at each publish: a cheap clock for subscribers
  }

  /** The smallest seq still held (1 while nothing has been overwritten). */
  oldest() {
    return this.head >= this.size ? this.head - this.size + 1 : 1;
  }

  /**
   * Where a client with cursor `after` (a BigInt) starts: {after, gap}. A
   * cursor beyond the head is a bad request; one older than the history
   * yields the gap signal {from, to} and starts at the oldest event held.
   */
  position(after) {
    if (after > BigInt(this.head)) {
      throw new BadRequest(`bad cursor ${after}: it is ahead of the stream (head ${this.head})`);
    }
    let a = Number(after);
    let gap = null;
    const oldest = this.oldest();
    if (a + 1 < oldest) {
      gap = { from: a + 1, to: oldest - 1 };
      a = oldest - 1;
    }
    return { after: a, gap };
  }

  /** The entry with seq `seq`, which must be in history. */
  entry(seq) {
    return this.ring[seq % this.size];
  }

  /**
   * Appends entries, which must continue the sequence, and lets every
   * subscriber write them. A subscriber already more than max-lag behind
   * before this publish is cut off instead (lag is measured against the
   * previous head, so one burst larger than max-lag never cuts off a
   * subscriber that had taken everything).
   */
  publish(entries) {
    if (this.closed || entries.length === 0) return;
    const prev = this.head;
    entries.forEach((e, i) => {
      if (e.seq !== prev + 1 + i) throw new Error(`hub: seq ${e.seq} does not follow ${prev + i}`);
    });
    for (const e of entries) this.ring[e.seq % this.size] = e;
    this.head = prev + entries.length;
    this.memo.clear();
    this.now = performance.now();
    for (const s of this.subs) {
      if (prev - s.cursor > this.maxLag) {
        this.cut(s, SLOW);
        continue;
      }
      s.pump();
    }
    if (this.waiters.size > 0) {
      const ws = [...this.waiters];
      this.waiters.clear();
      for (const w of ws) w();
    }
  }

  /**
   * The next chunk a streaming subscriber at `cursor` writes: the `kind`
   * frames ('sse' or 'ws') of the events after it, CHUNK_EVENTS or about
   * CHUNK_BYTES of them, whichever comes first, as {bytes, to}. The chunk is
   * kept until the next publish, so every subscriber at the same cursor
   * shares one buffer.
   */
  chunk(kind, cursor) {
    const key = kind + cursor;
    const m = this.memo.get(key);
    if (m !== undefined) return m;
    const parts = [];
    let n = 0;
    let seq = cursor + 1;
    const last = Math.min(this.head, cursor + CHUNK_EVENTS);
    for (; seq <= last && (n === 0 || n < CHUNK_BYTES); seq++) {
      const b = this.ring[seq % this.size][kind];
      parts.push(b);
      n += b.length;
    }
    const c = { bytes: parts.length === 1 ? parts[0] : Buffer.concat(parts, n), to: seq - 1 };
    if (this.memo.size < MEMO_LIMIT) this.memo.set(key, c);
    return c;
  }

  /** Registers a subscription and lets it write what it is owed. */
  add(s) {
    if (this.closed) {
      s.done = true;
      s.sink.end(CLOSED);
      return;
    }
    this.subs.add(s);
    s.pump();
  }

  /** Unregisters a subscription; safe to call more than once. */
  remove(s) {
    this.subs.delete(s);
    s.done = true;
    s.release();
  }

  /** Ends a subscription for `why` (SLOW or CLOSED), counting the slow. */
  cut(s, why) {
    if (s.done) return;
    this.remove(s);
    if (why === SLOW) {
      this.slowDropped++;
      s.counters.slow++;
    }
    s.sink.end(why);
  }

  /** Ends every subscription (CLOSED) and refuses new publishes. */
  close() {
    this.closed = true;
    for (const s of [...this.subs]) this.cut(s, CLOSED);
  }

  stats() {
    return { head: this.head, subscribers: this.subs.size, slow_dropped: this.slowDropped };
  }
}

/**
 * One subscriber's place in the stream. The sink is its transport's side:
 *   kind: 'sse' | 'ws'     which frames it writes
 *   alive(): boolean       whether its connection still takes events
 *   write(buf): boolean    false when the socket is backed up
 *   onDrain(fn)            calls fn once when the socket drains
 *   end(why)               ends the connection: SLOW or CLOSED
 * counters is its transport's {slow} counter object.
 */
class Subscription {
  constructor(hub, cursor, sink, counters) {
    this.hub = hub;
    this.cursor = cursor; // last seq handed to the socket
    this.sink = sink;
    this.counters = counters;
    this.blocked = false; // waiting for 'drain'
    this.stuck = null; // write-timeout timer while blocked
    this.done = false;
    this.lastWrite = hub.now; // for heartbeats: when bytes last went out
    this.unblock = () => {
      clearTimeout(this.stuck);
      this.stuck = null;
      this.blocked = false;
      this.lastWrite = performance.now();
      this.pump();
    };
  }

  /** Writes what the subscriber has not yet been given, chunk by chunk,
   * until it has everything or its socket is backed up. */
  pump() {
    const hub = this.hub;
    while (!this.done && !this.blocked && this.cursor < hub.head) {
      if (!this.sink.alive()) {
        hub.remove(this);
        return;
      }
      if (this.cursor + 1 < hub.oldest()) {
        // Cannot happen while max-lag <= history, but never skip silently.
        hub.cut(this, SLOW);
        return;
      }
      const c = hub.chunk(this.sink.kind, this.cursor);
      this.cursor = c.to;
      this.lastWrite = hub.now;
      if (!this.sink.write(c.bytes)) this.block();
    }
  }

  /** Writes bytes that are not events (a first frame, a heartbeat). */
  send(buf) {
    if (this.done || this.blocked) return;
    this.lastWrite = performance.now();
    if (!this.sink.write(buf)) this.block();
  }

  /** Waits for 'drain'; a socket that stays backed up past the write
   * timeout is cut off as slow. */
  block() {
    if (this.done || this.blocked) return;
    this.blocked = true;
    this.stuck = setTimeout(() => this.hub.cut(this, SLOW), this.hub.writeTimeout);
    this.sink.onDrain(this.unblock);
  }

  /** Drops the timers; called once the hub no longer holds it. */
  release() {
    clearTimeout(this.stuck);
    this.stuck = null;
  }
}

module.exports = { Hub, Subscription, SLOW, CLOSED, DEFAULT_HISTORY, DEFAULT_MAX_LAG };
