// Each conversation's messages, and how they are paged in over the WebSocket (`history` frames):
// the latest page, older pages on demand (`before`), and after a reconnect what was missed
// (`after`, page by page up to a limit, then the latest page again). At most one request per
// conversation is in flight; one unanswered for `timeoutMs` no longer blocks. No DOM access.

import { ConversationLog } from '../messages.js';

export class History {
  constructor({ connection, emit, now, timeoutMs, maxCatchUpPages }) {
    Object.assign(this, { connection, emit, now, timeoutMs, maxCatchUpPages });
    this.logs = new Map(); // conversation id -> ConversationLog
    this.requests = new Map(); // conversation id -> {dir, at, pages}: the request in flight
  }

  log(conv) {
    return this.logs.get(conv) ?? null;
  }

  newestId(conv) {
    return this.logs.get(conv)?.newestId ?? null;
  }

  /** Where a re-join resumes: the newest message of a conversation whose latest page came. */
  joinCursor(conv) {
    const log = this.logs.get(conv);
    return log?.loaded ? log.newestId : null;
  }

  isLoadingOlder(conv) {
    return this.requests.get(conv)?.dir === 'before';
  }

  /** Asks for the page before the oldest message held; false when there is none or one is loading. */
  loadOlder(conv) {
    const log = this.logs.get(conv);
    if (!log || !log.loaded || log.hasOlder === false || !log.oldestId) return false;
    return this._request(conv, 'before', log.oldestId);
  }

  /** Opening a DM: its latest page, unless it came already. (Rooms get theirs with `joined`.) */
  loadLatestOnce(conv) {
    if (!this._log(conv).loaded) this._request(conv, 'latest');
  }

  /** After a reconnect, a DM asks for what came after its newest message. */
  catchUp(conv) {
    const log = this.logs.get(conv);
    if (log?.loaded && log.newestId) this._request(conv, 'after', log.newestId);
    else this._request(conv, 'latest');
  }

  add(conv, messages) {
    this._log(conv).add(messages);
    this.emit('messages', conv);
  }

  /**
   * The messages of a `joined` frame. `after` is what the join asked with: then they are the
   * ones missed since, oldest first. Returns {hadMessages} when this was the first page loaded.
   */
  onJoined(conv, frame, after) {
    const log = this._log(conv);
    const messages = Array.isArray(frame.messages) ? frame.messages : [];
    let first = null;
    if (after && log.loaded) {
      log.add(messages);
      if (frame.more) this._request(conv, 'after', log.newestId, 1);
    } else {
      first = { hadMessages: log.messages.length > 0 };
      log.add(messages);
      log.hasOlder = Boolean(frame.more);
      log.loaded = true;
    }
    this.emit('messages', conv);
    return first;
  }

  /** A `history` frame. Returns {hadMessages} when it was the first page loaded. */
  onHistory(conv, frame) {
    const request = this.requests.get(conv);
    this.requests.delete(conv);
    const log = this._log(conv);
    const messages = Array.isArray(frame.messages) ? frame.messages : [];
    const dir = request?.dir ?? 'latest';
    const hadMessages = log.messages.length > 0;
    let first = null;
    log.add(messages);
    if (dir === 'before') {
      log.hasOlder = Boolean(frame.more);
    } else if (dir === 'after') {
      if (frame.more) {
        const pages = (request.pages ?? 0) + 1;
        if (pages <= this.maxCatchUpPages) {
          this._request(conv, 'after', log.newestId, pages);
        } else {
          // Too far behind to page through: start again from the latest page.
          log.clear();
          this._request(conv, 'latest');
        }
      }
    } else {
      log.hasOlder = Boolean(frame.more);
      if (!log.loaded) {
        log.loaded = true;
        first = { hadMessages };
      }
    }
    this.emit('messages', conv);
    return first;
  }

  /** Error frames do not say which conversation: every request in flight is given up. */
  failed() {
    this.requests.clear();
  }

  /** On a new connection nothing is in flight any more. */
  reset() {
    this.requests.clear();
  }

  forget(conv) {
    this.requests.delete(conv);
    this.logs.get(conv)?.clear();
    this.emit('messages', conv);
  }

  _log(conv) {
    if (!this.logs.has(conv)) this.logs.set(conv, new ConversationLog());
    return this.logs.get(conv);
  }

  _request(conv, dir, cursor = null, pages = 0) {
    const inFlight = this.requests.get(conv);
    if (inFlight && this.now() - inFlight.at < this.timeoutMs) return false;
    const frame = { action: 'history', room: conv };
    if (dir === 'before') frame.before = cursor;
    if (dir === 'after') frame.after = cursor;
    if (!this.connection.send(frame)) return false;
    this.requests.set(conv, { dir, at: this.now(), pages });
    if (dir === 'before') this.emit('messages', conv); // "Loading older messages…"
    return true;
  }
}
