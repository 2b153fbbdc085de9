'use strict';
// Shared by the tests: a server started as a child process on port 0, and
// small HTTP clients that keep the exact bytes. (A file of its own under
// test/: node --test runs it too, and it has no tests.)

const { spawn } = require('node:child_process');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');

const SERVER = path.join(__dirname, '..', 'server.js');

/**
 * Starts `node server.js --addr 127.0.0.1:0 ...args` and resolves once it
 * has printed its address: {base, port, proc, stdout(), stderr(), stop()}.
 */
function startServer(args = [], env = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [SERVER, '--addr', '127.0.0.1:0', ...args], {
      env: { ...process.env, PUSHBENCH_CONTROL_TOKEN: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    const exited = new Promise((res) => proc.on('exit', (code, signal) => res({ code, signal })));
    proc.stderr.on('data', (d) => (err += d));
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /^pushbench: listening on (http:\/\/127\.0\.0\.1:(\d+))\n/.exec(out);
      if (m) {
        resolve({
          base: m[1],
          port: Number(m[2]),
          proc,
          exited,
          stdout: () => out,
          stderr: () => err,
          /** SIGTERM, then the exit status. */
          async stop() {
            if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
            return exited;
          },
        });
      }
    });
    exited.then(({ code }) => reject(new Error(`server exited (${code}) before listening: ${err}`)));
    setTimeout(() => reject(new Error('server did not listen within 10s')), 10000).unref();
  });
}

/** Runs the server with args and resolves with {code, stdout, stderr} when it exits. */
function runServer(args, env = {}) {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [SERVER, ...args], {
      env: { ...process.env, PUSHBENCH_CONTROL_TOKEN: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (err += d));
    const t = setTimeout(() => proc.kill('SIGKILL'), 10000);
    proc.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, stdout: out, stderr: err });
    });
  });
}

/** One HTTP request: {status, headers, body (Buffer), text}. */
function request(url, { method = 'GET', headers = {}, agent = false } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode, headers: res.headers, body, text: body.toString() });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** POST a control path, with a bearer token if given. */
function control(base, pathAndQuery, token) {
  const headers = token === undefined ? {} : { Authorization: `Bearer ${token}` };
  return request(base + pathAndQuery, { method: 'POST', headers });
}

async function stats(base) {
  return JSON.parse((await request(base + '/stats')).text);
}

/** Waits until the hub's head is at least n. */
async function waitHead(base, n, timeoutMs = 5000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const s = await stats(base);
    if (s.hub.head >= n) return s;
    if (Date.now() > until) throw new Error(`head ${s.hub.head}, want ${n}`);
    await sleep(20);
  }
}

/** Publishes count events at once (a fast schedule that stops itself) and
 * waits for them; resolves with the seq of the first. */
async function publish(base, count, payload = 4, token) {
  const r = await control(base, `/control/start?rate=100000&count=${count}&payload=${payload}`, token);
  if (r.status !== 200) throw new Error(`start: ${r.status} ${r.text}`);
  const { first } = JSON.parse(r.text);
  await waitHead(base, first + count - 1);
  // The schedule has ended once its count is published; wait until a new
  // one may start.
  return first;
}

/**
 * Opens GET path on a raw socket and collects what arrives until done(text)
 * is true; resolves with {head, body} (the response head and the body's
 * bytes as text, chunked encoding undone) and closes the socket.
 */
function rawStream(port, pathAndQuery, headers = {}, done = () => false, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    let finished = false;
    const finish = (err) => {
      if (finished) return;
      finished = true;
      clearTimeout(t);
      s.destroy();
      if (err) reject(err);
      else resolve(parseResponse(buf));
    };
    const t = setTimeout(() => finish(new Error(`timeout; got ${JSON.stringify(buf.slice(0, 2000))}`)), timeoutMs);
    s.on('connect', () => {
      const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      s.write(`GET ${pathAndQuery} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`);
    });
    s.setEncoding('latin1');
    s.on('data', (d) => {
      buf += d;
      const r = parseResponse(buf);
      if (r.head !== null && done(r.body, r)) finish();
    });
    s.on('close', () => finish());
    s.on('error', (e) => finish(e));
  });
}

/** Splits a raw HTTP/1.1 response into its head and its (de-chunked) body. */
function parseResponse(buf) {
  const i = buf.indexOf('\r\n\r\n');
  if (i < 0) return { head: null, body: '', status: 0 };
  const head = buf.slice(0, i);
  let rest = buf.slice(i + 4);
  const status = Number(head.split(' ')[1]);
  if (!/transfer-encoding: chunked/i.test(head)) return { head, body: rest, status };
  let body = '';
  let complete = false;
  for (;;) {
    const j = rest.indexOf('\r\n');
    if (j < 0) break;
    const n = parseInt(rest.slice(0, j), 16);
    if (rest.length < j + 2 + n + 2) break;
    body += rest.slice(j + 2, j + 2 + n);
    rest = rest.slice(j + 2 + n + 2);
    if (n === 0) {
      complete = true; // the closing chunk: the response ended
      break;
    }
  }
  return { head, body: Buffer.from(body, 'latin1').toString(), status, complete };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

module.exports = { startServer, runServer, request, control, stats, waitHead, publish, rawStream, sleep };
