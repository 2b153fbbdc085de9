#!/usr/bin/env node
'use strict';
// pushbench's wire contract (docs/contract.md) in Node.js: one event stream
// over /sse, /ws, /poll and /longpoll, with /healthz, /stats and /control/*,
// on one node:http server.
//
//   node server.js --addr 127.0.0.1:0 --wait-start
//
// Once listening it prints `pushbench: listening on http://HOST:PORT` on
// stdout, and nothing else there. SIGTERM or SIGINT: the generator stops,
// every stream ends (SSE: the response ends; WebSocket: 1001), new requests
// are answered 503, the server closes and the process exits 0.

const fs = require('node:fs');
const http = require('node:http');
const { Hub } = require('./hub');
const { Generator } = require('./schedule');
const { createSSE } = require('./sse');
const { createWS } = require('./ws');
const { createPoll } = require('./poll');
const { createControl } = require('./control');
const { text, shuttingDown, rawText } = require('./reply');
const { parseArgs, isLoopback, usage, UsageError } = require('./flags');

// A graceful stop has this long before the remaining connections are cut.
const SHUTDOWN_TIMEOUT = 5000;

// Open files kept free below the open-file limit (as Go's servers keep):
// for the accepts that answer a connection beyond the limit, and for reading
// /proc for /stats. More than half the margin beyond the limit, a connection
// is closed as soon as it is accepted, unanswered, so that silent clients
// cannot hold the rest of the margin until their header timeout.
const FD_MARGIN = 128;
const OVER_LIMIT = Symbol('over the connection limit');

/** The soft open-file limit, from /proc/self/limits (Infinity elsewhere). */
function fileLimit() {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : Infinity;
  } catch {
    return Infinity;
  }
}

/** The default connection limit: the open-file limit less FD_MARGIN, or
 * half the limit when that is no more than twice the margin. */
function defaultMaxConns() {
  const l = fileLimit();
  if (!Number.isFinite(l) || l > 2 ** 30) return 2 ** 30;
  if (l <= 2 * FD_MARGIN) return Math.max(1, Math.floor(l / 2));
  return l - FD_MARGIN;
}

/** Builds the server from parsed flags: {server, shutdown, hub, generator}. */
function build(o) {
  const hub = new Hub({ history: o.history, maxLag: o['max-lag'], writeTimeout: o['write-timeout'] });
  const generator = new Generator(hub);
  const sse = createSSE(hub, { retryMs: Math.floor(o.retry), retryJitter: o['retry-jitter'], heartbeatMs: o.heartbeat });
  const ws = createWS(hub, { pingMs: o['ping-interval'], pongWaitMs: o['pong-wait'] });
  const poll = createPoll(hub, { batch: o['poll-batch'], longpollWaitMs: o['longpoll-wait'] });
  // Connections open now, and the most the server takes before it answers
  // 503 with Connection: close rather than failing to accept.
  const conns = { open: 0, refused: 0, max: o['max-conns'] > 0 ? o['max-conns'] : defaultMaxConns() };
  const ctl = createControl({ hub, generator, token: o['control-token'], sse, ws, poll, conns });
  let closing = false;

  const routes = {
    '/sse': sse.handle,
    '/ws': ws.handle,
    '/poll': poll.poll,
    '/longpoll': poll.longpoll,
    '/healthz': ctl.healthz,
    '/stats': ctl.stats,
  };

  const server = http.createServer({
    maxHeaderSize: 16 << 10,
    requestTimeout: 60000, // to receive a whole request; a stream's response is not bound by it
    headersTimeout: 10000,
    connectionsCheckingInterval: 1000, // how often those two are enforced
    noDelay: true,
    // A socket's write() returns false, and a stream waits for 'drain',
    // once this much is buffered in the process: the cap on what one
    // subscriber holds beyond the kernel's socket buffer, whatever Node's
    // default.
    highWaterMark: 32 << 10,
  });
  server.keepAliveTimeout = 75000;

  // A connection accepted beyond the limit has its requests answered 503
  // (or, far beyond, is closed at once) and is counted as refused;
  // connections accepted before it go on as usual.
  server.on('connection', (socket) => {
    conns.open++;
    socket.once('close', () => conns.open--);
    if (conns.open > conns.max) {
      conns.refused++;
      socket[OVER_LIMIT] = true;
      if (conns.open > conns.max + FD_MARGIN / 2) socket.destroy();
    }
  });

  server.on('request', (req, res) => {
    if (closing) {
      shuttingDown(res);
      return;
    }
    if (req.socket[OVER_LIMIT]) {
      text(res, 503, 'server at its connection limit', { Connection: 'close' });
      return;
    }
    const q = req.url.indexOf('?');
    const path = q < 0 ? req.url : req.url.slice(0, q);
    const route = routes[path];
    try {
      if (route !== undefined) route(req, res);
      else if (path === '/control/start' || path === '/control/stop') ctl.control(req, res, path);
      else text(res, 404, '404 page not found');
    } catch (err) {
      process.stderr.write(`pushbench-node: ${req.method} ${req.url}: ${err.stack || err}\n`);
      if (!res.headersSent) text(res, 500, 'internal error');
      else res.destroy();
    }
  });

  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => {}); // a reset client; 'close' cleans up
    if (closing) {
      rawText(socket, 503, 'server is shutting down');
      return;
    }
    if (socket[OVER_LIMIT]) {
      rawText(socket, 503, 'server at its connection limit');
      return;
    }
    const q = req.url.indexOf('?');
    const path = q < 0 ? req.url : req.url.slice(0, q);
    if (path !== '/ws') {
      // Node hands every request with an Upgrade header here; only /ws
      // upgrades.
      rawText(socket, 400, `no upgrade to "${req.headers.upgrade}" on ${path}: only /ws upgrades, to websocket`);
      return;
    }
    ws.upgrade(req, socket, head);
  });

  server.on('clientError', (err, socket) => {
    // Malformed requests, header timeouts, headers over the limit: answer as
    // Node would, then close.
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });

  /** Stops the generator, ends every stream and closes the server; calls
   * done once every connection is gone, or SHUTDOWN_TIMEOUT has passed. */
  function shutdown(done) {
    if (closing) return;
    closing = true;
    generator.stop();
    poll.shutdown();
    hub.close(); // SSE responses end, WebSocket connections close with 1001
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      done();
    };
    server.close(finish); // idle keep-alive connections close now
    setTimeout(() => {
      server.closeAllConnections();
      finish();
    }, SHUTDOWN_TIMEOUT).unref();
  }

  return { server, shutdown, hub, generator };
}

function main() {
  let o;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    if (err.help) {
      process.stderr.write(usage());
      process.exit(0);
    }
    process.stderr.write(`pushbench-node: ${err.message}\n${usage()}`);
    process.exit(2);
  }
  const { host, port } = o.listen;
  if (!isLoopback(host) && o['control-token'] === '') {
    process.stderr.write(
      `pushbench-node: --addr ${o.addr} listens beyond loopback: give a control token ` +
        '(--control-token or PUSHBENCH_CONTROL_TOKEN) to guard /control/*\n'
    );
    process.exit(2);
  }

  const { server, shutdown, generator } = build(o);
  server.on('error', (err) => {
    process.stderr.write(`pushbench-node: listen ${o.addr}: ${err.message}\n`);
    process.exit(1);
  });
  server.listen({ host: host === '' ? undefined : host, port }, () => {
    if (!o['wait-start']) {
      generator.start({ rate: o.rate, burst: o.burst, payload: o.payload, count: o.count });
    }
    const a = server.address();
    const hostport = a.family === 'IPv6' || a.family === 6 ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
    process.stdout.write(`pushbench: listening on http://${hostport}\n`);
  });

  const stop = () => shutdown(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (require.main === module) main();

module.exports = { build };
