'use strict';
// The pieces, in process: encoding, payload, frames, cursors, parameters,
// flags, the hub.

const test = require('node:test');
const assert = require('node:assert/strict');
const { Sender } = require('ws');
const { encode, generate, payload, typeOf, gapJSON, gapSSEFrame, wsTextFrame, Entry } = require('../event');
const { parseCursor, queryCursor, BadRequest } = require('../cursor');
const { parseSchedule } = require('../control');
const { parseArgs, parseDuration, UsageError, isLoopback } = require('../flags');
const { Hub, Subscription } = require('../hub');

test('canonical encoding: the bytes Go writes for the same event', () => {
  const want = '{"seq":3,"at_us":7,"type":"quote","data":"defg"}';
  assert.equal(encode(3, 7, 'quote', 'defg').toString(), want);
  assert.equal(generate(3, 7, 4).json.toString(), want);
  // A real time stays an exact integer. (The data starts at index 42 mod 62,
  // 'Q', as Go's event.Payload(42, 16) does; the example in
  // docs/contract.md §1 shows "qrst…", which its own rule does not give.)
  assert.equal(
    generate(42, 1764800000123456, 16).json.toString(),
    '{"seq":42,"at_us":1764800000123456,"type":"tick","data":"QRSTUVWXYZ012345"}'
  );
});

test('payload: alphabet rotation from seq mod 62, wrapping; type alternates', () => {
  assert.equal(payload(0, 3), 'abc');
  assert.equal(payload(61, 4), '9abc');
  assert.equal(payload(62, 2), 'ab');
  assert.equal(payload(5, 0), '');
  assert.equal(payload(1, 130), ('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'.repeat(3) + 'a').slice(1, 131));
  assert.equal(typeOf(1), 'quote');
  assert.equal(typeOf(2), 'tick');
});

test('frames: SSE layout, gap signal, and the WebSocket frame ws.send writes', () => {
  const e = generate(3, 7, 4);
  assert.equal(e.sse.toString(), 'id: 3\nevent: quote\ndata: {"seq":3,"at_us":7,"type":"quote","data":"defg"}\n\n');
  assert.equal(gapJSON({ from: 3, to: 10 }), '{"gap":{"from":3,"to":10}}');
  assert.equal(gapSSEFrame({ from: 3, to: 10 }), 'id: 10\nevent: gap\ndata: {"gap":{"from":3,"to":10}}\n\n');
  for (const size of [0, 4, 200, 70000]) {
    const x = new Entry(9, 1, 'quote', 'x'.repeat(size));
    const viaSend = Buffer.concat(
      Sender.frame(x.json, { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false })
    );
    assert.deepEqual(x.ws, viaSend);
    assert.equal(x.ws[0], 0x81); // FIN, text
    assert.deepEqual(x.ws.subarray(x.ws.length - x.json.length), x.json);
  }
  assert.deepEqual(wsTextFrame(Buffer.from('hi')), Buffer.from([0x81, 2, 0x68, 0x69]));
});

test('cursors: digits only, at most 20, at most 2^64-1', () => {
  assert.equal(parseCursor('0'), 0n);
  assert.equal(parseCursor('18446744073709551615'), 18446744073709551615n);
  for (const bad of ['', '-1', '+1', '1.0', '0x1', ' 1', 'abc', '18446744073709551616', '000000000000000000001']) {
    assert.throws(() => parseCursor(bad), BadRequest, bad);
  }
  assert.equal(queryCursor('/poll'), 0n);
  assert.equal(queryCursor('/poll?x=1&after=12'), 12n);
  assert.equal(queryCursor('/poll?%61fter=12'), 12n);
  assert.throws(() => queryCursor('/poll?after=1&after=2'), BadRequest);
  assert.throws(() => queryCursor('/poll?after='), BadRequest);
  assert.throws(() => queryCursor('/poll?after=%zz'), BadRequest);
});

test('/control/start parameters: strict', () => {
  assert.deepEqual(parseSchedule(''), { rate: 10, burst: 1, payload: 64, count: 0 });
  assert.deepEqual(parseSchedule('rate=2.5&burst=3&payload=0&count=7'), { rate: 2.5, burst: 3, payload: 0, count: 7 });
  assert.deepEqual(parseSchedule('rate=1e3'), { rate: 1000, burst: 1, payload: 64, count: 0 });
  for (const bad of [
    'rate=0', 'rate=-1', 'rate=abc', 'rate=', 'rate=Inf', 'rate=1&rate=1', 'burst=0', 'burst=1.5',
    'payload=-1', 'payload=1048577', 'count=-1', 'count=18446744073709551616', 'speed=1', 'rate=1;burst=2',
  ]) {
    assert.throws(() => parseSchedule(bad), BadRequest, bad);
  }
  assert.deepEqual(parseSchedule('payload=1048576').payload, 1048576);
});

test('flags: Go-style durations, defaults, refusals', () => {
  assert.equal(parseDuration('15s'), 15000);
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('1m30s'), 90000);
  assert.equal(parseDuration('1.5h'), 5400000);
  assert.equal(parseDuration('250us'), 0.25);
  assert.ok(Number.isNaN(parseDuration('15')));
  const o = parseArgs([], {});
  assert.equal(o.addr, '127.0.0.1:8080');
  assert.equal(o.rate, 10);
  assert.equal(o.history, 16384);
  assert.equal(o['max-lag'], 4096);
  assert.equal(o['longpoll-wait'], 25000);
  assert.equal(o['poll-batch'], 1000);
  const p = parseArgs(['--addr=[::1]:0', '-wait-start', '--heartbeat', '2s', '--retry=250ms'], { PUSHBENCH_CONTROL_TOKEN: 't' });
  assert.deepEqual(p.listen, { host: '::1', port: 0 });
  assert.equal(p['wait-start'], true);
  assert.equal(p.heartbeat, 2000);
  assert.equal(p.retry, 250);
  assert.equal(p['control-token'], 't');
  for (const bad of [['--nope'], ['--rate', '0'], ['--heartbeat', '5'], ['--addr', 'nohost'], ['stray'], ['--history']]) {
    assert.throws(() => parseArgs(bad, {}), UsageError, bad.join(' '));
  }
  assert.ok(isLoopback('127.0.0.1') && isLoopback('::1') && isLoopback('localhost'));
  assert.ok(!isLoopback('') && !isLoopback('0.0.0.0') && !isLoopback('10.0.0.1') && !isLoopback('::'));
});

/** A sink that records what it is given and can be backed up. */
function fakeSink(kind = 'sse') {
  const s = {
    kind,
    got: [],
    full: false,
    drain: null,
    ended: null,
    alive: () => s.ended === null,
    write(b) {
      s.got.push(b.toString());
      return !s.full;
    },
    onDrain(fn) {
      s.drain = fn;
    },
    end(why) {
      s.ended = why;
    },
  };
  return s;
}

test('hub: history, gap, cursor ahead, lag cut-off, write timeout', async () => {
  const hub = new Hub({ history: 8, maxLag: 100, writeTimeout: 50 });
  assert.equal(hub.maxLag, 4); // clamped to half the history
  const pub = (n) => {
    const first = hub.head + 1;
    hub.publish(Array.from({ length: n }, (_, i) => generate(first + i, 0, 1)));
  };
  pub(3);
  assert.deepEqual(hub.position(0n), { after: 0, gap: null });
  assert.throws(() => hub.position(4n), BadRequest);
  pub(10); // head 13, oldest 6
  assert.deepEqual(hub.position(2n), { after: 5, gap: { from: 3, to: 5 } });

  const counters = { slow: 0 };
  const a = fakeSink();
  const sa = new Subscription(hub, 13, a, counters);
  hub.add(sa);
  const b = fakeSink();
  const sb = new Subscription(hub, 13, b, counters);
  hub.add(sb);
  pub(2);
  assert.equal(a.got.length, 1, 'one write per publish');
  assert.equal(a.got[0], generate(14, 0, 1).sse.toString() + generate(15, 0, 1).sse.toString());
  assert.equal(sa.cursor, 15);

  // b backs up: it is not written to, and is cut once more than max-lag behind.
  b.full = true;
  pub(1); // b takes 16, then waits for drain
  assert.equal(sb.blocked, true);
  pub(4); // head 20; b at 16
  assert.equal(b.ended, null);
  pub(1); // before this publish b was 4 behind: not yet more than max-lag
  assert.equal(b.ended, null);
  pub(1); // 5 behind: cut
  assert.equal(b.ended, 'slow');
  assert.equal(hub.stats().slow_dropped, 1);
  assert.equal(counters.slow, 1);
  assert.equal(a.ended, null);
  assert.equal(sa.cursor, hub.head, 'the others never waited');

  // A socket stuck past the write timeout is cut too.
  a.full = true;
  pub(1);
  await new Promise((r) => setTimeout(r, 120));
  assert.equal(a.ended, 'slow');
  assert.equal(hub.stats().slow_dropped, 2);
  assert.equal(hub.stats().subscribers, 0);
});

test('hub: a drained subscriber catches up from its cursor; close ends everyone', () => {
  const hub = new Hub({ history: 64, maxLag: 32 });
  const pub = (n) => {
    const first = hub.head + 1;
    hub.publish(Array.from({ length: n }, (_, i) => generate(first + i, 0, 1)));
  };
  const s = fakeSink('ws');
  const sub = new Subscription(hub, 0, s, { slow: 0 });
  hub.add(sub);
  s.full = true;
  pub(3);
  pub(3);
  assert.equal(sub.cursor, 3);
  s.full = false;
  s.drain();
  assert.equal(sub.cursor, 6);
  const all = Buffer.concat(s.got.map((x) => Buffer.from(x, 'latin1')));
  assert.equal(all.length, [1, 2, 3, 4, 5, 6].reduce((n, q) => n + generate(q, 0, 1).ws.length, 0));
  hub.close();
  assert.equal(s.ended, 'closed');
});
