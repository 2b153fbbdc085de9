'use strict';
// The command line, with the names of the Go server's `pushbench serve`
// flags, read as Go's flag package reads them: -name or --name, the value
// after '=' or as the next argument, and a bool flag alone meaning true.

const { MAX_PAYLOAD } = require('./schedule');

/** A command-line mistake: the message is printed with the usage, exit 2. */
class UsageError extends Error {}

const UNITS = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60000, h: 3600000 };

/** Go's time.ParseDuration, in milliseconds: "15s", "500ms", "1m30s", "0". */
function parseDuration(s) {
  if (s === '0') return 0;
  const re = /(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let i = 0;
  let ms = 0;
  let sign = 1;
  if (s[0] === '-' || s[0] === '+') {
    sign = s[0] === '-' ? -1 : 1;
    i = 1;
  }
  if (i >= s.length) return NaN;
  while (i < s.length) {
    re.lastIndex = i;
    const m = re.exec(s);
    if (m === null) return NaN;
    ms += Number(m[1]) * UNITS[m[2]];
    i = re.lastIndex;
  }
  return sign * ms;
}

/** Every flag: its kind, default and help. */
const FLAGS = {
  addr: { kind: 'string', def: '127.0.0.1:8080', help: 'listen address HOST:PORT (port 0: any free port, printed on stdout)' },
  'wait-start': { kind: 'bool', def: false, help: 'publish nothing until POST /control/start' },
  rate: { kind: 'float', def: 10, help: 'events published per second (without --wait-start)' },
  burst: { kind: 'int', def: 1, help: 'events sharing each scheduled instant' },
  payload: { kind: 'int', def: 64, help: 'event data size in bytes (0 to 1 MiB)' },
  count: { kind: 'int', def: 0, help: 'stop publishing after this many events (0: never)' },
  history: { kind: 'int', def: 16384, help: 'events kept for resuming clients' },
  'max-lag': { kind: 'int', def: 4096, help: 'events a subscriber may lag before it is cut off (at most history/2)' },
  heartbeat: { kind: 'duration', def: 15000, help: 'SSE heartbeat interval' },
  retry: { kind: 'duration', def: 1000, help: 'SSE reconnection delay sent as retry:' },
  'retry-jitter': { kind: 'bool', def: false, help: "send each SSE stream its own retry: drawn from [0, 2*retry], spreading a reconnect storm" },
  'ping-interval': { kind: 'duration', def: 15000, help: 'WebSocket ping interval' },
  'pong-wait': { kind: 'duration', def: 10000, help: 'how long after a ping is due a WebSocket client may take to answer (Node only)' },
  'write-timeout': { kind: 'duration', def: 10000, help: 'how long a stream may stay backed up before it is cut off as slow (Node only)' },
  'longpoll-wait': { kind: 'duration', def: 25000, help: 'how long /longpoll holds a request with nothing new' },
  'poll-batch': { kind: 'int', def: 1000, help: 'most events in one poll answer' },
  'max-conns': { kind: 'int', def: 0, help: 'connections taken before new requests are answered 503 (0: the open-file limit less 128) (Node only)' },
  'control-token': { kind: 'string', def: '', help: 'require Authorization: Bearer TOKEN on /control/* (env PUSHBENCH_CONTROL_TOKEN); required beyond loopback' },
};

function usage() {
  const lines = ['Usage: node server.js [flags]', ''];
  for (const [name, f] of Object.entries(FLAGS)) {
    const def = f.kind === 'duration' ? formatDuration(f.def) : JSON.stringify(f.def);
    lines.push(`  --${name}${f.kind === 'bool' ? '' : ' ' + f.kind}`);
    lines.push(`        ${f.help} (default ${def})`);
  }
  return lines.join('\n') + '\n';
}

function formatDuration(ms) {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** Reads one flag's value, or throws a UsageError. */
function value(name, f, raw) {
  const bad = (want) => new UsageError(`invalid value "${raw}" for flag -${name}: ${want}`);
  switch (f.kind) {
    case 'string':
      return raw;
    case 'bool':
      if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(raw)) return true;
      if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(raw)) return false;
      throw bad('want true or false');
    case 'int': {
      if (!/^[+-]?\d+$/.test(raw) || !Number.isSafeInteger(Number(raw))) throw bad('want an integer');
      return Number(raw);
    }
    case 'float': {
      const n = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(raw) ? Number(raw) : NaN;
      if (!Number.isFinite(n)) throw bad('want a number');
      return n;
    }
    case 'duration': {
      const ms = parseDuration(raw);
      if (Number.isNaN(ms)) throw bad('want a duration such as 15s or 500ms');
      return ms;
    }
  }
  throw new Error('unreachable');
}

/** Parses argv (without node and the script) into an options object keyed
 * by flag name; throws UsageError on anything it cannot take. */
function parseArgs(argv, env = process.env) {
  const o = {};
  for (const [name, f] of Object.entries(FLAGS)) o[name] = f.def;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      if (i + 1 < argv.length) throw new UsageError(`unexpected arguments ${JSON.stringify(argv.slice(i + 1))}`);
      break;
    }
    if (!arg.startsWith('-') || arg === '-') throw new UsageError(`unexpected arguments ${JSON.stringify(argv.slice(i))}`);
    let name = arg.replace(/^--?/, '');
    let raw = null;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      raw = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    if (name === 'h' || name === 'help') {
      const e = new UsageError('');
      e.help = true;
      throw e;
    }
    const f = FLAGS[name];
    if (f === undefined) throw new UsageError(`flag provided but not defined: -${name}`);
    if (raw === null) {
      if (f.kind === 'bool') raw = 'true';
      else if (i + 1 < argv.length) raw = argv[++i];
      else throw new UsageError(`flag needs an argument: -${name}`);
    }
    o[name] = value(name, f, raw);
  }
  if (o['control-token'] === '' && env.PUSHBENCH_CONTROL_TOKEN) o['control-token'] = env.PUSHBENCH_CONTROL_TOKEN;
  check(o);
  return o;
}

/** Refuses values no server could run with. */
function check(o) {
  const bad = (name, want) => new UsageError(`bad --${name} ${JSON.stringify(o[name])}: want ${want}`);
  if (!(o.rate > 0)) throw bad('rate', 'events per second > 0');
  if (o.burst < 1) throw bad('burst', 'an integer >= 1');
  if (o.payload < 0 || o.payload > MAX_PAYLOAD) throw bad('payload', `bytes from 0 to ${MAX_PAYLOAD}`);
  if (o.count < 0) throw bad('count', 'an integer >= 0');
  if (o['max-conns'] < 0) throw bad('max-conns', 'an integer >= 0');
  for (const n of ['history', 'max-lag', 'poll-batch']) if (o[n] < 1) throw bad(n, 'an integer >= 1');
  for (const n of ['heartbeat', 'retry', 'ping-interval', 'pong-wait', 'write-timeout', 'longpoll-wait']) {
    if (!(o[n] > 0)) throw bad(n, 'a duration > 0');
    if (o[n] > 2147483647) throw bad(n, 'a duration below 24 days');
  }
  o.listen = parseAddr(o.addr);
}

/** Splits HOST:PORT; an empty host means every interface. */
function parseAddr(addr) {
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d{1,5})$/.exec(addr);
  if (m === null || Number(m[3]) > 65535) {
    throw new UsageError(`bad --addr "${addr}": want HOST:PORT, for example 127.0.0.1:8080 or [::1]:0`);
  }
  const host = m[1] !== undefined ? m[1] : m[2];
  return { host, port: Number(m[3]) };
}

/** Whether host names only this machine: 127.0.0.0/8, ::1, localhost. */
function isLoopback(host) {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || /^::ffff:127\./i.test(host);
}

module.exports = { parseArgs, parseDuration, parseAddr, isLoopback, usage, UsageError, FLAGS };
