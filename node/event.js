'use strict';
// The event: its generated payload and type, its canonical encoding, and the
// gap signal (docs/contract.md §1).
//
// An event is encoded once, when it is published, and every transport sends
// those same bytes: the SSE frame and the WebSocket frame around them are
// also built once per event (lazily, by the first subscriber of that
// transport) and shared by every subscriber.

const { Sender } = require('ws');

const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const TYPES = ['tick', 'quote']; // tick for even seq, quote for odd

// Payloads of one size are all substrings of one long string: the alphabet
// repeated until any rotation of `size` characters fits in it.
let payloadSize = -1;
let payloadSource = '';

/** The data of event `seq` with payload size `size`: `size` characters of
 * the alphabet from index seq mod 62, wrapping around. */
function payload(seq, size) {
  if (size !== payloadSize) {
    payloadSize = size;
    payloadSource = ALPHABET.repeat(Math.ceil((size + ALPHABET.length) / ALPHABET.length));
  }
  const off = seq % ALPHABET.length;
  return payloadSource.slice(off, off + size);
}

/** The type of event `seq`. */
function typeOf(seq) {
  return TYPES[seq % 2];
}

/** The canonical encoding: keys in this order, no spaces. */
function encode(seq, atUs, type, data) {
  return Buffer.from(JSON.stringify({ seq, at_us: atUs, type, data }));
}

/**
 * A published event: its seq and type, its canonical JSON, and the frames
 * built around that JSON, each made once and shared read-only by every
 * subscriber.
 */
class Entry {
  constructor(seq, atUs, type, data) {
    this.seq = seq;
    this.type = type;
    this.json = encode(seq, atUs, type, data);
    this._sse = null;
    this._ws = null;
  }

  /** `id: SEQ\nevent: TYPE\ndata: JSON\n\n` (the JSON never holds a newline). */
  get sse() {
    if (this._sse === null) {
      this._sse = Buffer.concat([
        Buffer.from(`id: ${this.seq}\nevent: ${this.type}\ndata: `),
        this.json,
        NL2,
      ]);
    }
    return this._sse;
  }

  /** One unmasked, final, uncompressed text frame holding the JSON, framed
   * by ws's own Sender.frame: the bytes ws.send(json) would write. */
  get ws() {
    if (this._ws === null) this._ws = wsTextFrame(this.json);
    return this._ws;
  }
}

const NL2 = Buffer.from('\n\n');

/** A generated event: type and payload as the contract defines them. */
function generate(seq, atUs, size) {
  return new Entry(seq, atUs, typeOf(seq), payload(seq, size));
}

/** The gap signal {"gap":{"from":F,"to":T}}. */
function gapJSON(gap) {
  return `{"gap":{"from":${gap.from},"to":${gap.to}}}`;
}

/** The gap signal as an SSE frame: its id is the last missing event. */
function gapSSEFrame(gap) {
  return `id: ${gap.to}\nevent: gap\ndata: ${gapJSON(gap)}\n\n`;
}

/** A whole unmasked WebSocket text frame (FIN set, no RSV bits). */
function wsTextFrame(data) {
  const parts = Sender.frame(data, {
    fin: true,
    opcode: 0x01,
    mask: false,
    readOnly: false,
    rsv1: false,
  });
  return parts.length === 1 ? parts[0] : Buffer.concat(parts);
}

module.exports = { ALPHABET, payload, typeOf, encode, Entry, generate, gapJSON, gapSSEFrame, wsTextFrame };
