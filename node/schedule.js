'use strict';
// The generator: publishes events on a schedule (docs/contract.md §4).
//
// Event k (k = 0, 1, …) of a schedule is scheduled at
// start + floor(k / burst) · burst / rate seconds and carries that time in
// at_us. A timer loop publishes everything that is due, in bounded batches;
// a generator that falls behind publishes late events with their scheduled
// times and skips nothing, so the lag shows in every client's latency.

const { performance } = require('node:perf_hooks');
const { generate } = require('./event');

const DEFAULT_RATE = 10;
const DEFAULT_PAYLOAD = 64;
const MAX_PAYLOAD = 1 << 20;

// The most due events one publish carries: a generator far behind its
// schedule still lets I/O (drains, new clients, /control/stop) run between
// batches.
const MAX_BATCH = 1024;

/** The wall clock in whole microseconds, as precise as the process has it:
 * performance's origin + elapsed time, unless that has drifted from
 * Date.now() (a clock step since the process started). */
function wallMicros() {
  const precise = performance.timeOrigin + performance.now();
  const coarse = Date.now();
  return Math.round((Math.abs(precise - coarse) < 2 ? precise : coarse) * 1000);
}

class Generator {
  constructor(hub) {
    this.hub = hub;
    this.run = null; // the running schedule, null when none
  }

  get running() {
    return this.run !== null;
  }

  /**
   * Starts publishing {rate, burst, payload, count} from now, continuing
   * the stream from the hub's head, and returns the seq of the first event.
   * The caller checks `running` first (409).
   */
  start({ rate = DEFAULT_RATE, burst = 1, payload = DEFAULT_PAYLOAD, count = 0 } = {}) {
    if (this.run !== null) throw new Error('generator already running');
    const first = this.hub.head + 1;
    const startMono = performance.now();
    const run = {
      rate,
      burst,
      payload,
      count, // 0: never stop
      first,
      k: 0, // index of the next event of the schedule
      startMono,
      startUs: wallMicros(),
      timer: null,
      immediate: null,
    };
    this.run = run;
    this.tick(run);
    return first;
  }

  /** Microseconds from the start to event k's scheduled time. */
  static offsetUs(run, k) {
    return Math.floor((Math.floor(k / run.burst) * run.burst * 1e6) / run.rate);
  }

  /** Publishes what is due, then waits for the next event's time. */
  tick(run) {
    run.timer = run.immediate = null;
    if (this.run !== run) return; // stopped
    const elapsedUs = (performance.now() - run.startMono) * 1000;
    const batch = [];
    while (batch.length < MAX_BATCH && (run.count === 0 || run.k < run.count)) {
      const off = Generator.offsetUs(run, run.k);
      if (off > elapsedUs) break;
      batch.push(generate(run.first + run.k, run.startUs + off, run.payload));
      run.k++;
    }
    if (batch.length > 0) this.hub.publish(batch);
    if (this.run !== run) return; // a subscriber's callback stopped it
    if (run.count !== 0 && run.k >= run.count) {
      this.run = null; // done: a new schedule may start
      return;
    }
    if (batch.length === MAX_BATCH) {
      // Further behind than one batch: let I/O in, then go on at once.
      run.immediate = setImmediate(() => this.tick(run));
      return;
    }
    const waitMs = (Generator.offsetUs(run, run.k) - (performance.now() - run.startMono) * 1000) / 1000;
    if (waitMs <= 0) {
      run.immediate = setImmediate(() => this.tick(run)); // came due while publishing
      return;
    }
    // setTimeout counts whole milliseconds: round up rather than wake early.
    run.timer = setTimeout(() => this.tick(run), Math.ceil(waitMs));
  }

  /** Stops the schedule; nothing is published after it returns. */
  stop() {
    const run = this.run;
    if (run !== null) {
      clearTimeout(run.timer);
      clearImmediate(run.immediate);
      this.run = null;
    }
    return this.hub.head;
  }
}

module.exports = { Generator, DEFAULT_RATE, DEFAULT_PAYLOAD, MAX_PAYLOAD, MAX_BATCH, wallMicros };
