'use strict';
// Health, statistics and control (docs/contract.md §4): GET /healthz,
// GET /stats, POST /control/start?rate=R&burst=B&payload=P&count=N and
// POST /control/stop, the last two behind the control token when there is
// one.

const fs = require('node:fs');
const crypto = require('node:crypto');
const { parseQuery, clip, BadRequest, UINT64_MAX } = require('./cursor');
const { text, json, refuse, notAllowed } = require('./reply');
const { MAX_PAYLOAD, DEFAULT_RATE, DEFAULT_PAYLOAD } = require('./schedule');

const CONTRACT_VERSION = 1;
const WS_VERSION = require('ws/package.json').version;

/**
 * Reads /control/start's parameters strictly: an unknown parameter, a
 * repeated one or a bad value is a bad request, so a typo never silently
 * runs a different benchmark. A missing one takes its default.
 */
function parseSchedule(rawQuery) {
  const s = { rate: DEFAULT_RATE, burst: 1, payload: DEFAULT_PAYLOAD, count: 0 };
  const seen = new Set();
  for (const [k, v] of parseQuery(rawQuery)) {
    if (seen.has(k)) throw new BadRequest(`parameter ${clip(k)} given more than once`);
    seen.add(k);
    switch (k) {
      case 'rate': {
        // As Go's strconv.ParseFloat reads a decimal number.
        const f = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(v) ? Number(v) : NaN;
        if (!(f > 0) || !Number.isFinite(f)) throw new BadRequest(`bad rate "${clip(v)}": want events per second > 0`);
        s.rate = f;
        break;
      }
      case 'burst': {
        const n = /^[+-]?\d+$/.test(v) ? Number(v) : NaN;
        if (!Number.isSafeInteger(n) || n < 1) throw new BadRequest(`bad burst "${clip(v)}": want an integer >= 1`);
        s.burst = n;
        break;
      }
      case 'payload': {
        const n = /^[+-]?\d+$/.test(v) ? Number(v) : NaN;
        if (!Number.isSafeInteger(n) || n < 0 || n > MAX_PAYLOAD) {
          throw new BadRequest(`bad payload "${clip(v)}": want bytes from 0 to ${MAX_PAYLOAD}`);
        }
        s.payload = n; // 0: empty data
        break;
      }
      case 'count': {
        if (!/^\d{1,20}$/.test(v) || BigInt(v) > UINT64_MAX) {
          throw new BadRequest(`bad count "${clip(v)}": want a non-negative integer (0: unbounded)`);
        }
        // Past 2^53 a count is as good as unbounded; it stays a count.
        s.count = Number(v);
        break;
      }
      default:
        throw new BadRequest(`unknown parameter "${clip(k)}": want rate, burst, payload, count`);
    }
  }
  return s;
}

/** Compares a presented token with the server's without leaking, through
 * timing, how much of it matched. */
function tokenMatches(presented, token) {
  const a = crypto.createHash('sha256').update(presented).digest();
  const b = crypto.createHash('sha256').update(token).digest();
  return crypto.timingSafeEqual(a, b);
}

/** The process's figures, read as pushbench reads its own (internal/proc). */
function processStats() {
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  let openFiles = 0;
  try {
    openFiles = fs.readdirSync('/proc/self/fd').length - 1; // less the one readdir held
  } catch {
    // not Linux: leave it 0
  }
  return {
    cpu_seconds: (cpu.user + cpu.system) / 1e6,
    rss_bytes: mem.rss,
    heap_inuse_bytes: mem.heapUsed,
    open_files: openFiles,
  };
}

/**
 * The control endpoints. deps: {hub, generator, token (or ''), sse, ws,
 * poll, conns}. Returns {healthz, stats, control(req, res, path)}.
 */
function createControl({ hub, generator, token, sse, ws, poll, conns }) {
  const runtime = `node:http (Node.js ${process.version})`;
  const implementation = { sse: 'node', ws: 'node', poll: 'node', longpoll: 'node' };
  const library = { sse: runtime, ws: `ws ${WS_VERSION}`, poll: runtime, longpoll: runtime };

  function healthz(req, res) {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      notAllowed(res, 'GET, HEAD', 'use GET');
      return;
    }
    text(res, 200, 'ok');
  }

  function stats(req, res) {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      notAllowed(res, 'GET, HEAD', 'use GET');
      return;
    }
    const stream = (c) => ({ active: c.active, total: c.total, slow_disconnects: c.slow });
    json(res, {
      contract: CONTRACT_VERSION,
      implementation,
      library,
      hub: hub.stats(),
      transports: {
        sse: stream(sse.counters),
        ws: stream(ws.counters),
        poll: { ...poll.counters.poll },
        longpoll: { ...poll.counters.longpoll, waiting: poll.held.size },
        refused: conns.refused,
      },
      process: processStats(),
    });
  }

  /** /control/start and /control/stop. */
  function control(req, res, path) {
    if (token !== '') {
      const auth = req.headers.authorization || '';
      const m = /^Bearer +(.+)$/i.exec(auth);
      if (m === null || !tokenMatches(m[1].trim(), token)) {
        text(res, 401, 'control token missing or wrong: send Authorization: Bearer TOKEN', {
          'WWW-Authenticate': 'Bearer',
        });
        return;
      }
    }
    if (req.method !== 'POST') {
      notAllowed(res, 'POST', 'use POST');
      return;
    }
    if (path === '/control/start') {
      let s;
      try {
        const i = req.url.indexOf('?');
        s = parseSchedule(i < 0 ? '' : req.url.slice(i + 1));
      } catch (err) {
        refuse(res, err);
        return;
      }
      if (generator.running) {
        text(res, 409, 'generator already running: POST /control/stop first');
        return;
      }
      json(res, { first: generator.start(s) });
      return;
    }
    json(res, { head: generator.stop() });
  }

  return { healthz, stats, control };
}

module.exports = { createControl, parseSchedule, processStats, CONTRACT_VERSION };
