// What the user wrote, until the server's echo confirms it: the outbox (outbox.js), kept in
// sessionStorage so that a reload while offline loses nothing, and when each message goes out.
// No DOM access.
//
// A message goes out once its conversation takes messages on this connection (a room must be
// joined on it first), again if its echo is overdue, and again after every reconnect, always
// with the same client_id, which the server stores only once.

import { Outbox, frameFor } from '../outbox.js';
import { userRecord } from '../storage.js';

export class SendQueue {
  /**
   * @param {object} options
   * @param {(conv: string) => boolean} options.canSendNow whether `conv` takes messages now
   * @param {(conv: string) => string|null} options.refusal why `conv` would refuse them, if it would
   */
  constructor({ storage, me, connection, emit, now, resendAfterMs, canSendNow, refusal }) {
    this.record = userRecord(storage, 'chat.outbox', me);
    const saved = this.record.load([]);
    this.outbox = new Outbox(Array.isArray(saved) ? saved : []);
    Object.assign(this, { connection, emit, now, resendAfterMs, canSendNow, refusal });
  }

  forConversation(conv) {
    return this.outbox.forConversation(conv);
  }

  /** Messages still to be delivered (those that failed wait for the user instead). */
  waitingCount() {
    return this.outbox.items.filter((item) => item.state !== 'failed').length;
  }

  /** The other user of the DM a message of ours went to. */
  recipientOf(clientId) {
    return this.outbox.get(clientId)?.to ?? null;
  }

  add(fields) {
    const item = this.outbox.add(fields);
    this._changed([item.conv]);
    return item;
  }

  retry(clientId) {
    const item = this.outbox.retry(clientId);
    if (item) this._changed([item.conv]);
    return Boolean(item);
  }

  discard(clientId) {
    const item = this.outbox.discard(clientId);
    if (item) this._changed([item.conv]);
  }

  /** The server's echo of one of our messages. */
  confirm(clientId) {
    const item = this.outbox.confirm(clientId);
    if (item) this._changed([item.conv]);
  }

  /** The server refused a message; false when the client_id is not ours. */
  fail(clientId, reason) {
    const item = this.outbox.fail(clientId, reason);
    if (item) this._changed([item.conv]);
    return Boolean(item);
  }

  /** The user is out of the room: what was waiting for it will not be delivered. */
  failConversation(conv, reason) {
    let failed = false;
    for (const item of this.outbox.forConversation(conv)) {
      if (item.state !== 'failed') {
        this.outbox.fail(item.clientId, reason);
        failed = true;
      }
    }
    if (failed) this._changed([conv]);
  }

  /** A new connection: nothing is in flight any more. */
  requeue() {
    const sent = this.outbox.items.filter((item) => item.state === 'sent').map((item) => item.conv);
    this.outbox.requeueSent();
    if (sent.length) this._changed(sent);
  }

  /** Sends what is due, oldest first; the caller knows the connection is ready for it. */
  flush() {
    const changed = [];
    for (const item of this.outbox.items) {
      const reason = item.state === 'queued' ? this.refusal(item.conv) : null;
      if (reason) {
        this.outbox.fail(item.clientId, reason);
        changed.push(item.conv);
      }
    }
    const due = this.outbox.due({ now: this.now(), resendAfterMs: this.resendAfterMs, canSend: this.canSendNow });
    for (const item of due) {
      if (!this.connection.send(frameFor(item))) break;
      this.outbox.markSent(item.clientId, this.now());
      changed.push(item.conv);
    }
    if (changed.length) this._changed(changed);
  }

  /** Logging out: nothing of this user stays on the device. */
  forget() {
    this.outbox = new Outbox();
    this.record.clear();
  }

  _changed(convs) {
    this.record.save(this.outbox.toJSON());
    for (const conv of new Set(convs)) this.emit('outbox', conv);
  }
}
