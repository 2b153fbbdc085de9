'use strict';
// Cursors (docs/contract.md §1): decimal digits only, at most 20 of them,
// fitting an unsigned 64-bit integer; anything else is 400 Bad Request.
// A cursor beyond the head is refused by the hub, also with 400.

const MAX_DIGITS = 20;
const UINT64_MAX = (1n << 64n) - 1n;

/** A request the client got wrong: answered 400 with its message. */
class BadRequest extends Error {}

/** Shortens what a client sent before it is echoed in an error. */
function clip(s) {
  return s.length > 40 ? s.slice(0, 40) + '…' : s;
}

/**
 * Parses a cursor. It returns a BigInt, so that a cursor past 2^53 is
 * compared with the head exactly (and refused as ahead of it) rather than
 * rounded; `where` names the source in the error.
 */
function parseCursor(s, where = '') {
  if (s.length === 0 || s.length > MAX_DIGITS || !/^[0-9]+$/.test(s)) {
    throw new BadRequest(`bad cursor "${clip(s)}"${where}: want a non-negative integer`);
  }
  const v = BigInt(s);
  if (v > UINT64_MAX) {
    throw new BadRequest(`bad cursor "${clip(s)}"${where}: want at most ${UINT64_MAX}`);
  }
  return v;
}

/** Go's url.QueryUnescape: '+' is a space, %XX must be valid hex. */
function queryUnescape(s) {
  if (!/[%+]/.test(s)) return s;
  s = s.replace(/\+/g, ' ');
  if (/%(?![0-9A-Fa-f]{2})/.test(s)) throw new BadRequest('bad escape in query');
  // Percent-escapes may spell bytes that are not UTF-8; keep them as bytes.
  return Buffer.from(s.replace(/%([0-9A-Fa-f]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString();
}

/**
 * The parameters of a raw query, as [key, value] pairs in order, decoded as
 * Go's url.ParseQuery does: '&' separates, a ';' is an error, a bad escape
 * is an error, an empty piece is skipped, a key without '=' has value "".
 */
function parseQuery(raw) {
  const out = [];
  if (!raw) return out;
  for (const piece of raw.split('&')) {
    if (piece === '') continue;
    if (piece.includes(';')) throw new BadRequest('bad query: invalid semicolon separator in query');
    const eq = piece.indexOf('=');
    const k = eq < 0 ? piece : piece.slice(0, eq);
    const v = eq < 0 ? '' : piece.slice(eq + 1);
    out.push([queryUnescape(k), queryUnescape(v)]);
  }
  return out;
}

/** The raw query of a request URL ('' when there is none). */
function rawQuery(url) {
  const i = url.indexOf('?');
  return i < 0 ? '' : url.slice(i + 1);
}

/** The cursor of `after=SEQ` in a request URL; none means 0. Repeating it
 * is a bad request: which one would the client mean? */
function queryCursor(url) {
  let val = null;
  for (const piece of rawQuery(url).split('&')) {
    const eq = piece.indexOf('=');
    let k = eq < 0 ? piece : piece.slice(0, eq);
    if (k.includes('%')) {
      try {
        k = queryUnescape(k);
      } catch {
        continue; // not a parameter we could have meant
      }
    }
    if (k !== 'after') continue;
    if (val !== null) throw new BadRequest('bad cursor: after given more than once');
    val = eq < 0 ? '' : piece.slice(eq + 1);
  }
  if (val === null) return 0n;
  if (/[%+]/.test(val)) {
    try {
      val = queryUnescape(val);
    } catch {
      throw new BadRequest(`bad cursor "${clip(val)}": want a non-negative integer`);
    }
  }
  return parseCursor(val);
}

/** An SSE client's cursor: a non-empty Last-Event-ID wins over after=, as a
 * reconnecting EventSource reuses the original URL. */
function sseCursor(req) {
  const id = req.headers['last-event-id'];
  if (id !== undefined && id !== '') return parseCursor(id, ' in Last-Event-ID');
  return queryCursor(req.url);
}

module.exports = { BadRequest, clip, parseCursor, parseQuery, queryCursor, sseCursor, rawQuery, UINT64_MAX };
