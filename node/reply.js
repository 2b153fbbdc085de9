'use strict';
// Small answers shared by every handler.

const { STATUS_CODES } = require('node:http');
const { BadRequest } = require('./cursor');

/** A plain-text answer, as Go's http.Error writes it. */
function text(res, status, msg, headers = {}) {
  const body = msg + '\n';
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'X-Content-Type-Options': 'nosniff',
    'Content-Length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/** 200 with v as JSON. */
function json(res, v) {
  const body = JSON.stringify(v) + '\n';
  res.writeHead(200, {
    'Content-Type': 'application/json',
    'Cache-Control': 'no-store',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/** Answers a request a parser or the hub turned down: 400 for the client's
 * mistakes, 500 for ours. */
function refuse(res, err) {
  if (err instanceof BadRequest) text(res, 400, err.message);
  else text(res, 500, String(err && err.message ? err.message : err));
}

/** 405 with the methods the path takes. */
function notAllowed(res, allow, hint) {
  text(res, 405, `method not allowed: ${hint}`, { Allow: allow });
}

/** 503 while the server shuts down; the connection goes too. */
function shuttingDown(res) {
  text(res, 503, 'server is shutting down', { Connection: 'close' });
}

/** An HTTP answer written straight to a socket that came to the 'upgrade'
 * event, which then closes. */
function rawText(socket, status, msg, headers = {}) {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = msg + '\n';
  const head = {
    'Content-Type': 'text/plain; charset=utf-8',
    'X-Content-Type-Options': 'nosniff',
    'Content-Length': Buffer.byteLength(body),
    Connection: 'close',
    ...headers,
  };
  const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status]}`];
  for (const [k, v] of Object.entries(head)) lines.push(`${k}: ${v}`);
  socket.end(lines.join('\r\n') + '\r\n\r\n' + body);
  // A client that never closes its end must not keep the socket.
  setTimeout(() => socket.destroy(), 1000).unref();
}

module.exports = { text, json, refuse, notAllowed, shuttingDown, rawText };
