// The WebSocket connection: connect, keep alive, reconnect. No DOM access: the WebSocket
// class, the timers and the clock are passed in, so it is unit-tested with fakes.
//
// Status values: 'connecting' (first attempt), 'connected', 'reconnecting' (after a drop,
// waiting or retrying), 'offline' (the browser says there is no network, or a test paused
// it), 'closed' (stopped on purpose, e.g. on logout).

import { backoffDelay, BACKOFF_DEFAULTS } from './backoff.js';
import { browserTimers } from './timers.js';

const OPEN = 1;

export const CONNECTION_DEFAULTS = Object.freeze({
  // API Gateway drops a connection idle for 10 minutes: ping well inside that.
  pingIntervalMs: 5 * 60_000,
  // No pong this long after a ping: the connection is dead even if no close event came.
  pongTimeoutMs: 20_000,
  // API Gateway closes every connection after 2 hours: reconnect on our own terms before.
  maxAgeMs: 110 * 60_000,
  // A connection that lived at least this long counts as healthy: backoff starts over.
  healthyAfterMs: 5_000,
  baseMs: BACKOFF_DEFAULTS.baseMs,
  capMs: BACKOFF_DEFAULTS.capMs,
});

export class Connection {
  /**
   * @param {object} options
   * @param {() => string} options.url the URL to connect to (called at each attempt)
   * @param {Function} options.WebSocketImpl the WebSocket class
   * @param {(frame: object) => void} options.onFrame every parsed server frame but pong
   * @param {() => void} options.onOpen after each successful (re)connection
   * @param {(status: string) => void} options.onStatus on every status change
   * @param {(info: {code: number, opened: boolean, failures: number}) => void} options.onClose
   */
  constructor(options) {
    this.options = { ...CONNECTION_DEFAULTS, onFrame() {}, onOpen() {}, onStatus() {}, onClose() {},
      timers: browserTimers, now: () => Date.now(), random: Math.random, ...options };
    this.timers = this.options.timers;
    this.ws = null;
    this.status = 'closed';
    this.attempt = 0; // reconnection attempts since the last healthy connection
    this.failures = 0; // attempts in a row that never opened
    this.everOpened = false;
    this.stopped = true;
    this.paused = false;
    this.networkUp = true;
    this.openedAt = null;
    this.opens = 0;
    this._retryTimer = null;
    this._pingTimer = null;
    this._pongTimer = null;
    this._maxAgeTimer = null;
  }

  start() {
    this.stopped = false;
    this._connect();
  }

  stop() {
    this.stopped = true;
    this._teardown();
    this._setStatus('closed');
  }

  get connected() {
    return this.status === 'connected' && this.ws !== null && this.ws.readyState === OPEN;
  }

  /** Sends a frame; false when not connected (the caller keeps it for later). */
  send(frame) {
    if (!this.connected) return false;
    try {
      this.ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  /** The browser's online/offline events. */
  setNetwork(up) {
    this.networkUp = up;
    if (!up) {
      this._teardown();
      if (!this.stopped) this._setStatus('offline');
    } else if (!this.stopped && !this.paused && !this.ws) {
      this.attempt = 0;
      this._connect();
    }
  }

  /** Test hook and debugging aid: the socket goes away as if the network dropped it. */
  drop() {
    if (this.ws) {
      try {
        this.ws.close();
      } catch {
        // ignore
      }
    }
  }

  /** Test hook: disconnect and stay disconnected (status 'offline') until resume(). */
  pause() {
    this.paused = true;
    this._teardown();
    if (!this.stopped) this._setStatus('offline');
  }

  resume() {
    this.paused = false;
    if (!this.stopped && !this.ws) {
      this.attempt = 0;
      this._connect();
    }
  }

  /** Checks the connection now (e.g. when the tab becomes visible again after a while). */
  checkAlive() {
    if (this.connected) this._ping();
    else if (!this.stopped && !this.paused && this.networkUp && !this.ws) {
      this.timers.clearTimeout(this._retryTimer);
      this._retryTimer = null;
      this._connect();
    }
  }

  _setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    this.options.onStatus(status);
  }

  _connect() {
    this.timers.clearTimeout(this._retryTimer);
    this._retryTimer = null;
    if (this.stopped || this.paused || !this.networkUp || this.ws) return;
    this._setStatus(this.everOpened ? 'reconnecting' : 'connecting');
    let ws;
    try {
      ws = new this.options.WebSocketImpl(this.options.url());
    } catch {
      this.failures += 1;
      this._scheduleRetry();
      return;
    }
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      if (ws !== this.ws) return;
      opened = true;
      this.everOpened = true;
      this.failures = 0;
      this.opens += 1;
      this.openedAt = this.options.now();
      this._setStatus('connected');
      this._pingTimer = this.timers.setInterval(() => this._ping(), this.options.pingIntervalMs);
      this._maxAgeTimer = this.timers.setTimeout(() => this._recycle(), this.options.maxAgeMs);
      this.options.onOpen();
    };
    ws.onmessage = (event) => {
      if (ws !== this.ws) return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (!frame || typeof frame !== 'object') return;
      if (frame.type === 'pong') {
        this.timers.clearTimeout(this._pongTimer);
        this._pongTimer = null;
        return;
      }
      this.options.onFrame(frame);
    };
    ws.onerror = () => {};
    ws.onclose = (event) => {
      if (ws !== this.ws) return;
      this._lost(event?.code ?? 1006, opened);
    };
  }

  _lost(code, opened) {
    const lived = opened && this.openedAt !== null ? this.options.now() - this.openedAt : 0;
    this._teardown();
    if (!opened) this.failures += 1;
    if (opened && lived >= this.options.healthyAfterMs) this.attempt = 0;
    this.options.onClose({ code, opened, failures: this.failures });
    if (this.stopped) return;
    if (this.paused || !this.networkUp) {
      this._setStatus('offline');
      return;
    }
    this._scheduleRetry();
  }

  _scheduleRetry() {
    if (this.stopped || this.paused || !this.networkUp) return;
    this._setStatus('reconnecting');
    const delay = backoffDelay(this.attempt, { baseMs: this.options.baseMs, capMs: this.options.capMs,
      random: this.options.random });
    this.attempt += 1;
    this.timers.clearTimeout(this._retryTimer);
    this._retryTimer = this.timers.setTimeout(() => {
      this._retryTimer = null;
      this._connect();
    }, delay);
  }

  _ping() {
    if (!this.send({ action: 'ping' })) return;
    if (this._pongTimer === null) {
      this._pongTimer = this.timers.setTimeout(() => {
        this._pongTimer = null;
        // No answer: treat the connection as dropped.
        if (this.ws) this._lost(4000, true);
      }, this.options.pongTimeoutMs);
    }
  }

  /** Before API Gateway's 2-hour limit: close and reconnect at once, without backoff. */
  _recycle() {
    if (!this.ws) return;
    this._teardown();
    this.attempt = 0;
    this._connect();
  }

  _detach(ws) {
    ws.onopen = null;
    ws.onmessage = null;
    ws.onclose = null;
    ws.onerror = null;
    try {
      ws.close(1000);
    } catch {
      // ignore
    }
  }

  _teardown() {
    this.timers.clearTimeout(this._retryTimer);
    this.timers.clearInterval(this._pingTimer);
    this.timers.clearTimeout(this._pongTimer);
    this.timers.clearTimeout(this._maxAgeTimer);
    this._retryTimer = null;
    this._pingTimer = null;
    this._pongTimer = null;
    this._maxAgeTimer = null;
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      this._detach(ws);
    }
    this.openedAt = null;
  }
}
