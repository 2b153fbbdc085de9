'use strict';
// The server as pushbench meets it: a child process on port 0, driven over
// HTTP and WebSocket.

const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const WebSocket = require('ws');
const { startServer, request, control, stats, publish, rawStream, sleep } = require('./helpers');
const { payload, typeOf } = require('../event');

const RETRY = 'retry: 1500\n\n';

let srv;
let base;

test.before(async () => {
  srv = await startServer([
    '--wait-start',
    '--history', '16',
    '--max-lag', '8',
    '--poll-batch', '3',
    '--heartbeat', '300ms',
    '--retry', '1500ms',
    '--ping-interval', '200ms',
    '--pong-wait', '300ms',
    '--longpoll-wait', '1s',
  ]);
  base = srv.base;
});

test.after(async () => {
  const { code } = await srv.stop();
  assert.equal(code, 0);
});

/** The canonical encoding of event seq as the server holds it, from /poll. */
async function eventJSON(seq) {
  const r = await request(`${base}/poll?after=${seq - 1}`);
  const m = /^\{"events":\[(\{[^}]*\})/.exec(r.text);
  return m[1];
}

/** Checks that json is the canonical encoding of a generated event. */
function assertCanonical(json, seq, size) {
  const e = JSON.parse(json);
  assert.equal(json, JSON.stringify({ seq, at_us: e.at_us, type: typeOf(seq), data: payload(seq, size) }));
  assert.ok(Number.isSafeInteger(e.at_us) && e.at_us > 1.7e15, `at_us ${e.at_us}`);
}

/** Opens a WebSocket and collects its messages; resolves once n have come. */
function wsMessages(url, n, opts = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts);
    const got = [];
    ws.on('message', (data, isBinary) => {
      got.push({ text: data.toString(), isBinary });
      if (got.length === n) {
        ws.close();
        resolve(got);
      }
    });
    ws.on('unexpected-response', (_req, res) => reject(new Error(`status ${res.statusCode}`)));
    ws.on('error', reject);
  });
}

/** Opens a WebSocket; resolves once it is open. */
function wsOpen(url, opts = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** Resolves with the close code a WebSocket ends with. */
function closeCode(ws) {
  return new Promise((resolve) => ws.once('close', (code) => resolve(code)));
}

test('poll: 204 with nothing new, then exact events, next and more; HEAD', async () => {
  let r = await request(`${base}/poll`);
  assert.equal(r.status, 204);
  assert.equal(r.body.length, 0);
  assert.equal(r.headers['cache-control'], 'no-store');

  assert.equal(await publish(base, 5, 4), 1);
  r = await request(`${base}/poll?after=0`);
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-type'], 'application/json');
  assert.equal(r.headers['cache-control'], 'no-store');
  const events = JSON.parse(r.text).events;
  const raw = events.map((e) => JSON.stringify(e));
  // The body is exactly the canonical encodings, joined, with next and more.
  assert.equal(r.text, `{"events":[${raw.join(',')}],"next":3,"more":true}`);
  raw.forEach((j, i) => assertCanonical(j, i + 1, 4));
  assert.equal(
    raw[2],
    `{"seq":3,"at_us":${events[2].at_us},"type":"quote","data":"defg"}`,
    'the bytes of the contract example'
  );

  r = await request(`${base}/poll?after=3`);
  assert.deepEqual(
    [JSON.parse(r.text).next, JSON.parse(r.text).more, JSON.parse(r.text).events.map((e) => e.seq)],
    [5, false, [4, 5]]
  );
  r = await request(`${base}/poll?after=5`);
  assert.equal(r.status, 204);

  const get = await request(`${base}/poll?after=1`);
  const head = await request(`${base}/poll?after=1`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
  assert.equal(Number(head.headers['content-length']), get.body.length);
  assert.equal((await request(`${base}/poll?after=5`, { method: 'HEAD' })).status, 204);
  assert.equal((await request(`${base}/poll`, { method: 'POST' })).status, 405);
});

test('SSE: retry first, then exact frames; heartbeat when silent; Last-Event-ID wins', async () => {
  const frames = [];
  for (const seq of [3, 4, 5]) {
    frames.push(`id: ${seq}\nevent: ${typeOf(seq)}\ndata: ${await eventJSON(seq)}\n\n`);
  }
  const want = RETRY + frames.join('');
  let r = await rawStream(srv.port, '/sse?after=2', {}, (body) => body.length >= want.length);
  assert.equal(r.body, want);
  assert.match(r.head, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(r.head, /\r\nContent-Type: text\/event-stream\r\n/i);
  assert.match(r.head, /\r\nCache-Control: no-cache\r\n/i);
  assert.match(r.head, /\r\nX-Accel-Buffering: no\r\n/i);

  r = await rawStream(srv.port, '/sse?after=5', {}, (body) => body.includes(': hb\n\n'));
  assert.equal(r.body, RETRY + ': hb\n\n');

  r = await rawStream(srv.port, '/sse?after=0', { 'Last-Event-ID': '4' }, (body) => body.length >= RETRY.length + frames[2].length);
  assert.equal(r.body, RETRY + frames[2]);
});

test('WebSocket: one text message per event, the canonical bytes', async () => {
  const want = [await eventJSON(4), await eventJSON(5)];
  const got = await wsMessages(`ws://127.0.0.1:${srv.port}/ws?after=3`, 2);
  assert.deepEqual(got, want.map((text) => ({ text, isBinary: false })));
  // Live events too.
  const ws = await wsOpen(`ws://127.0.0.1:${srv.port}/ws?after=5`);
  const next = new Promise((resolve) => ws.once('message', (d) => resolve(d.toString())));
  await publish(base, 1, 4);
  assertCanonical(await next, 6, 4);
  ws.close();
});

test('gap signal on every transport for a cursor older than the history', async () => {
  await publish(base, 30, 4); // head 36; history 16 holds 21..36
  let r = await request(`${base}/poll?after=0`);
  assert.equal(r.status, 200);
  const p = JSON.parse(r.text);
  assert.deepEqual(p.gap, { from: 1, to: 20 });
  assert.deepEqual(p.events.map((e) => e.seq), [21, 22, 23]);
  assert.equal(p.next, 23);
  assert.equal(p.more, true);
  assert.match(r.text, /\],"next":23,"more":true,"gap":\{"from":1,"to":20\}\}$/);

  r = await request(`${base}/longpoll?after=3`);
  assert.deepEqual(JSON.parse(r.text).gap, { from: 4, to: 20 });

  const gapFrame = 'id: 20\nevent: gap\ndata: {"gap":{"from":1,"to":20}}\n\n';
  const first = `id: 21\nevent: quote\ndata: ${await eventJSON(21)}\n\n`;
  r = await rawStream(srv.port, '/sse?after=0', {}, (b) => b.length >= RETRY.length + gapFrame.length + first.length);
  assert.equal(r.body.slice(0, RETRY.length + gapFrame.length + first.length), RETRY + gapFrame + first);

  const msgs = await wsMessages(`ws://127.0.0.1:${srv.port}/ws?after=0`, 2);
  assert.equal(msgs[0].text, '{"gap":{"from":1,"to":20}}');
  assert.equal(JSON.parse(msgs[1].text).seq, 21);
});

test('400 for a bad cursor on every transport, before any upgrade', async () => {
  const head = (await stats(base)).hub.head;
  const bad = [
    'abc', '-1', '', '1.5', '+1', '%20', '123456789012345678901', '18446744073709551616',
    '18446744073709551615', String(head + 1), '1&after=1',
  ];
  for (const path of ['/poll', '/longpoll', '/sse', '/ws']) {
    for (const c of bad) {
      const r = await request(`${base}${path}?after=${c}`);
      assert.equal(r.status, 400, `${path}?after=${c}: ${r.status} ${r.text}`);
      assert.match(r.headers['content-type'], /^text\/plain/);
    }
  }
  let r = await request(`${base}/sse`, { headers: { 'Last-Event-ID': 'x' } });
  assert.equal(r.status, 400);
  r = await request(`${base}/sse?after=1`, { headers: { 'Last-Event-ID': String(head + 5) } });
  assert.equal(r.status, 400, 'Last-Event-ID wins over after');
  // A WebSocket handshake with a bad cursor is a plain 400.
  for (const c of ['abc', String(head + 1)]) {
    await assert.rejects(wsMessages(`ws://127.0.0.1:${srv.port}/ws?after=${c}`, 1), /status 400/);
  }
  assert.equal((await request(`${base}/ws?after=0`)).status, 400, 'no upgrade');
  assert.equal((await request(`${base}/nope`)).status, 404);
});

test('long poll: answers as soon as an event is newer, 204 when the hold passes', async () => {
  const before = (await stats(base)).transports.longpoll;
  const head = (await stats(base)).hub.head;
  const held = request(`${base}/longpoll?after=${head}`);
  await sleep(150);
  assert.equal((await stats(base)).transports.longpoll.waiting, 1);
  await publish(base, 1, 4);
  const r = await held;
  assert.equal(r.status, 200);
  const body = JSON.parse(r.text);
  assert.deepEqual(body.events.map((e) => e.seq), [head + 1]);
  assert.equal(body.next, head + 1);
  assert.equal(body.more, false);

  const t0 = Date.now();
  const empty = await request(`${base}/longpoll?after=${head + 1}`);
  assert.equal(empty.status, 204);
  assert.ok(Date.now() - t0 >= 900, 'held for --longpoll-wait');
  const after = (await stats(base)).transports.longpoll;
  assert.equal(after.requests - before.requests, 2);
  assert.equal(after.empty - before.empty, 1);
});

test('/control/start: strict parameters, 409 while running; /control/stop answers head', async () => {
  for (const q of ['rate=0', 'rate=x', 'burst=0', 'payload=1048577', 'count=-1', 'rate=1&rate=1', 'speed=3']) {
    const r = await control(base, `/control/start?${q}`);
    assert.equal(r.status, 400, q);
  }
  const head = (await stats(base)).hub.head;
  let r = await control(base, '/control/start?rate=1&payload=0');
  assert.equal(r.status, 200);
  assert.deepEqual(JSON.parse(r.text), { first: head + 1 });
  r = await control(base, '/control/start?rate=1');
  assert.equal(r.status, 409);
  r = await control(base, '/control/stop');
  assert.equal(r.status, 200);
  const stopped = JSON.parse(r.text);
  assert.ok(stopped.head >= head + 1, 'the first event is published at once');
  const p = await request(`${base}/poll?after=${head}`);
  assert.equal(JSON.parse(p.text).events[0].data, '', 'payload=0 is empty data');
  assert.equal((await request(`${base}/control/start`)).status, 405);
  assert.equal((await stats(base)).hub.head, stopped.head, 'nothing after stop');
});

test('/stats: contract, implementation, hub, transports, process', async () => {
  const ws = await wsOpen(`ws://127.0.0.1:${srv.port}/ws`);
  const s = await stats(base);
  ws.close();
  assert.equal(s.contract, 1);
  assert.deepEqual(s.implementation, { sse: 'node', ws: 'node', poll: 'node', longpoll: 'node' });
  assert.equal(typeof s.hub.head, 'number');
  assert.ok(s.hub.subscribers >= 1);
  assert.equal(s.hub.slow_dropped, 0);
  for (const t of ['sse', 'ws']) {
    assert.deepEqual(Object.keys(s.transports[t]).sort(), ['active', 'slow_disconnects', 'total']);
  }
  assert.ok(s.transports.ws.active >= 1 && s.transports.ws.total >= 1);
  assert.ok(s.transports.sse.total >= 1);
  assert.ok(s.transports.poll.requests >= 1 && s.transports.poll.empty >= 1);
  assert.ok(s.transports.longpoll.requests >= 1);
  assert.ok(s.process.cpu_seconds > 0);
  assert.ok(s.process.rss_bytes > 0);
  assert.ok(s.process.heap_inuse_bytes > 0);
  assert.ok(s.process.open_files > 0);
  assert.equal(s.process.goroutines, undefined);
});

test('WebSocket close codes: 1009 too big, 1007 bad UTF-8, 1002 protocol error', async () => {
  const url = `ws://127.0.0.1:${srv.port}/ws`;
  let ws = await wsOpen(url);
  let code = closeCode(ws);
  ws.send(Buffer.alloc(5000, 0x61));
  assert.equal(await code, 1009);

  ws = await wsOpen(url);
  code = closeCode(ws);
  ws.send(Buffer.from([0xc3, 0x28]), { binary: false });
  assert.equal(await code, 1007);

  ws = await wsOpen(url);
  code = closeCode(ws);
  // A masked close frame with a one-byte body.
  ws._socket.write(Buffer.from([0x88, 0x81, 0, 0, 0, 0, 0x03]));
  assert.equal(await code, 1002);

  // Messages within the limit are read and ignored.
  ws = await wsOpen(url);
  ws.send('hello');
  await sleep(50);
  assert.equal(ws.readyState, WebSocket.OPEN);
  ws.close();
});

test('WebSocket: pinged every interval; a client that never pongs is terminated', async () => {
  const url = `ws://127.0.0.1:${srv.port}/ws`;
  const ws = await wsOpen(url);
  let pings = 0;
  ws.on('ping', () => pings++);
  await sleep(700);
  assert.ok(pings >= 2, `pings ${pings}`);
  assert.equal(ws.readyState, WebSocket.OPEN, 'a client that pongs stays');
  ws.close();

  const mute = await wsOpen(url, { autoPong: false });
  const code = await closeCode(mute);
  assert.equal(code, 1006, 'terminated without a close frame');
});

test('a request with a header over 16 KiB is refused', async () => {
  const r = await request(`${base}/healthz`, { headers: { 'X-Big': 'a'.repeat(17 << 10) } }).catch((e) => e);
  assert.ok(r instanceof Error || r.status === 431, `${r.status}`);
  assert.equal((await request(`${base}/healthz`)).status, 200);
});

test('slow consumers are cut off and counted: SSE mid-stream, WebSocket', async () => {
  const s0 = await stats(base);
  const head = s0.hub.head;
  // Subscribers that stop reading: their sockets back up while events of
  // 256 KiB keep coming, so they fall more than --max-lag behind.
  const sse = net.connect(srv.port, '127.0.0.1');
  await new Promise((r) => sse.once('connect', r));
  sse.write(`GET /sse?after=${head} HTTP/1.1\r\nHost: x\r\n\r\n`);
  let sseClosed = false;
  sse.on('close', () => (sseClosed = true));
  sse.on('error', () => {});
  const ws = await wsOpen(`ws://127.0.0.1:${srv.port}/ws?after=${head}`);
  ws.on('error', () => {});
  const wsCode = closeCode(ws);
  await sleep(50);
  sse.pause();
  ws._socket.pause();
  const r = await control(base, '/control/start?rate=500&count=100&payload=262144');
  assert.equal(r.status, 200);
  const until = Date.now() + 10000;
  let s;
  do {
    await sleep(50);
    s = await stats(base);
  } while ((s.transports.sse.slow_disconnects === 0 || s.transports.ws.slow_disconnects === 0) && Date.now() < until);
  assert.equal(s.transports.sse.slow_disconnects, 1);
  assert.equal(s.transports.ws.slow_disconnects, 1);
  assert.equal(s.hub.slow_dropped, 2);
  sse.resume();
  sse.on('data', () => {});
  ws._socket.resume();
  const code = await wsCode;
  assert.ok(code === 1008 || code === 1006, `close code ${code}`);
  await sleep(100);
  assert.ok(sseClosed, 'the SSE connection is cut');
  await control(base, '/control/stop');
});
