// Messages the user wrote that the server has not confirmed yet. No DOM access.
//
// Each item keeps its client_id for life: a retry after a reconnect re-sends the same
// client_id, and the server stores a (sender, room, client_id) only once, so a message
// is never duplicated however many times it is sent. The server's echo, a `message`
// frame carrying the same client_id, confirms it and removes it from the outbox.

import { isDmId } from './conversations.js';

export class Outbox {
  constructor(items = []) {
    this.items = [];
    for (const item of items) {
      if (item && typeof item.clientId === 'string' && typeof item.conv === 'string'
        && typeof item.text === 'string') {
        // Whatever was in flight when the page went away must be sent again.
        this.items.push({ ...item, state: item.state === 'failed' ? 'failed' : 'queued' });
      }
    }
  }

  /** Queues a message; `to` is the other user for a DM conversation. */
  add({ clientId, conv, text, to = null, createdAt = Date.now() }) {
    const item = { clientId, conv, text, to, createdAt, state: 'queued', attempts: 0, sentAt: null,
      error: null };
    this.items.push(item);
    return item;
  }

  get(clientId) {
    return this.items.find((item) => item.clientId === clientId) ?? null;
  }

  has(clientId) {
    return this.get(clientId) !== null;
  }

  forConversation(conv) {
    return this.items.filter((item) => item.conv === conv);
  }

  markSent(clientId, now = Date.now()) {
    const item = this.get(clientId);
    if (item) {
      item.state = 'sent';
      item.sentAt = now;
      item.attempts += 1;
    }
    return item;
  }

  /** The server's echo arrived: the item is done. Returns it, or null if it was not ours. */
  confirm(clientId) {
    const index = this.items.findIndex((item) => item.clientId === clientId);
    if (index === -1) return null;
    return this.items.splice(index, 1)[0];
  }

  fail(clientId, error) {
    const item = this.get(clientId);
    if (item) {
      item.state = 'failed';
      item.error = error || 'Not sent';
    }
    return item;
  }

  retry(clientId) {
    const item = this.get(clientId);
    if (item) {
      item.state = 'queued';
      item.error = null;
    }
    return item;
  }

  discard(clientId) {
    return this.confirm(clientId);
  }

  /** After a reconnect nothing is in flight any more: everything sent but unconfirmed goes again. */
  requeueSent() {
    for (const item of this.items) if (item.state === 'sent') item.state = 'queued';
  }

  /**
   * Items to send now, oldest first: queued ones, and sent ones whose echo is overdue
   * (`resendAfterMs`). `canSend(conv)` says whether a conversation can take messages now
   * (e.g. its room has been joined on the current connection).
   */
  due({ now = Date.now(), resendAfterMs = 15_000, canSend = () => true } = {}) {
    return this.items.filter((item) => {
      if (!canSend(item.conv)) return false;
      if (item.state === 'queued') return true;
      return item.state === 'sent' && now - item.sentAt >= resendAfterMs;
    });
  }

  toJSON() {
    return this.items.map(({ clientId, conv, text, to, createdAt, state, error }) => (
      { clientId, conv, text, to, createdAt, state, error }));
  }
}

/** The WebSocket frame that sends an outbox item. */
export function frameFor(item) {
  if (isDmId(item.conv)) {
    return { action: 'dm', to: item.to, text: item.text, client_id: item.clientId };
  }
  return { action: 'send', room: item.conv, text: item.text, client_id: item.clientId };
}
