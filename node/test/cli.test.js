'use strict';
// The process: its command line, its one line on stdout, the control token,
// and a graceful SIGTERM.

const test = require('node:test');
const assert = require('node:assert/strict');
const WebSocket = require('ws');
const { startServer, runServer, request, control, publish, rawStream, stats, sleep } = require('./helpers');

test('prints exactly one line once listening, and publishes at once without --wait-start', async () => {
  const srv = await startServer(['--rate', '200', '--payload', '8']);
  const s = await stats(srv.base);
  await sleep(100);
  assert.ok((await stats(srv.base)).hub.head > s.hub.head, 'the generator runs');
  assert.equal((await control(srv.base, '/control/start')).status, 409);
  const { code } = await srv.stop();
  assert.equal(code, 0);
  assert.equal(srv.stdout(), `pushbench: listening on http://127.0.0.1:${srv.port}\n`);
});

test('unknown flags, bad values and stray arguments exit 2 with a message', async () => {
  for (const args of [['--nope'], ['--rate', '0'], ['--heartbeat', '10'], ['--cpus', '0'], ['extra']]) {
    const r = await runServer(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^pushbench-node: .+\nUsage: node server\.js/, r.stderr);
  }
});

test('beyond loopback the control token is required to start', async () => {
  const r = await runServer(['--addr', '0.0.0.0:0', '--wait-start']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /control token/);
  // With one it starts.
  const srv = await new Promise((resolve, reject) => {
    const { spawn } = require('node:child_process');
    const p = spawn(process.execPath, [require.resolve('../server.js'), '--addr', '0.0.0.0:0', '--wait-start'], {
      env: { ...process.env, PUSHBENCH_CONTROL_TOKEN: 'tok' },
    });
    p.stdout.on('data', (d) => {
      const m = /^pushbench: listening on http:\/\/0\.0\.0\.0:(\d+)\n$/.exec(String(d));
      if (m) resolve({ p, port: Number(m[1]) });
      else reject(new Error(String(d)));
    });
    p.on('exit', (code) => reject(new Error(`exited ${code}`)));
  });
  const base = `http://127.0.0.1:${srv.port}`;
  assert.equal((await control(base, '/control/stop')).status, 401);
  assert.equal((await control(base, '/control/stop', 'tok')).status, 200);
  const code = await new Promise((resolve) => {
    srv.p.removeAllListeners('exit');
    srv.p.on('exit', resolve);
    srv.p.kill('SIGTERM');
  });
  assert.equal(code, 0);
});

test('control token: 401 with WWW-Authenticate: Bearer; /stats and /healthz stay open', async () => {
  const srv = await startServer(['--wait-start', '--control-token', 's3cret']);
  const base = srv.base;
  for (const token of [undefined, 'wrong', 's3cret2', '']) {
    for (const p of ['/control/start', '/control/stop']) {
      const r = await control(base, p, token);
      assert.equal(r.status, 401, `${p} with ${token}`);
      assert.equal(r.headers['www-authenticate'], 'Bearer');
    }
  }
  assert.equal((await request(base + '/control/start', { method: 'POST', headers: { Authorization: 'Basic s3cret' } })).status, 401);
  assert.equal((await request(base + '/stats')).status, 200);
  assert.equal((await request(base + '/healthz')).status, 200);
  assert.equal(await publish(base, 3, 4, 's3cret'), 1);
  const r = await control(base, '/control/stop', 's3cret');
  assert.deepEqual(JSON.parse(r.text), { head: 3 });
  assert.equal((await srv.stop()).code, 0);

  // From the environment too.
  const env = await startServer(['--wait-start'], { PUSHBENCH_CONTROL_TOKEN: 'fromenv' });
  assert.equal((await control(env.base, '/control/stop')).status, 401);
  assert.equal((await control(env.base, '/control/stop', 'fromenv')).status, 200);
  assert.equal((await env.stop()).code, 0);
});

test('SIGTERM: streams end (SSE response ends, WebSocket 1001), held polls 503, exit 0', async () => {
  const srv = await startServer(['--rate', '50', '--longpoll-wait', '10s']);
  await sleep(50);
  const sse = rawStream(srv.port, '/sse', {}, () => false, 10000);
  const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/ws`);
  const wsClose = new Promise((resolve) => ws.on('close', (code, reason) => resolve([code, String(reason)])));
  await new Promise((r) => ws.once('open', r));
  // A long poll held at the head (a far-future cursor would be refused).
  await control(srv.base, '/control/stop');
  const head = (await stats(srv.base)).hub.head;
  const held = request(`${srv.base}/longpoll?after=${head}`);
  await sleep(100);
  srv.proc.kill('SIGTERM');
  const [code, reason] = await wsClose;
  assert.equal(code, 1001);
  assert.equal(reason, 'server shutting down');
  const r = await sse;
  assert.equal(r.status, 200);
  assert.ok(r.complete, 'the response ended with its closing chunk');
  assert.match(r.body, /^retry: 1000\n\n(id: \d+\nevent: (tick|quote)\ndata: \{[^\n]*\}\n\n)+$/);
  const h = await held;
  assert.equal(h.status, 503);
  const { code: exit } = await srv.exited;
  assert.equal(exit, 0);
});

test('at the connection limit new requests are answered 503 with Connection: close', async () => {
  const srv = await startServer(['--wait-start', '--max-conns', '2']);
  const a = rawStream(srv.port, '/sse', {}, () => false, 3000).catch(() => {});
  const b = rawStream(srv.port, '/sse', {}, () => false, 3000).catch(() => {});
  await sleep(200);
  const r = await request(`${srv.base}/poll`);
  assert.equal(r.status, 503);
  assert.equal(r.headers.connection, 'close');
  await Promise.all([a, b]); // their sockets close at the timeout
  await sleep(100);
  const s = await stats(srv.base);
  assert.equal(s.transports.refused, 1);
  assert.equal((await srv.stop()).code, 0);
});

test('--retry-jitter: each SSE stream asks for its own retry: within [0, 2·retry]', async () => {
  const srv = await startServer(['--wait-start', '--retry', '5s', '--retry-jitter']);
  const seen = new Set();
  for (let i = 0; i < 8; i++) {
    const r = await rawStream(srv.port, '/sse', {}, (b) => /^retry: \d+\n\n$/.test(b));
    const ms = Number(/^retry: (\d+)/.exec(r.body)[1]);
    assert.ok(ms >= 0 && ms <= 10000, `retry ${ms}`);
    seen.add(ms);
  }
  assert.ok(seen.size > 1, 'not all the same');
  assert.equal((await srv.stop()).code, 0);
});
