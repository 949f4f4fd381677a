// The open conversation's messages: day separators, the messages held, ours still pending at the
// end; "Load older messages" and scrolling up for more; keeping the reading position when
// messages arrive above or below, and "New messages ↓" when they arrive out of sight.

import { elementsById, listen, renderKeyed, setText, show } from './dom.js';
import { createDaySeparator, createMessageItem, updatePendingItem } from './items.js';
import { dayKey, dayLabel } from '../format.js';

const NEAR_BOTTOM_PX = 80;
const LOAD_OLDER_PX = 120;

/** The rows of the list: a separator before each new day, then ours not yet confirmed. */
export function messageRows(messages, pending, now = new Date()) {
  const rows = [];
  let lastDay = null;
  for (const message of messages) {
    const day = dayKey(message.ts);
    if (day && day !== lastDay) {
      rows.push({ kind: 'day', key: `d:${day}`, label: dayLabel(message.ts, now) });
      lastDay = day;
    }
    rows.push({ kind: 'msg', key: `m:${message.id}`, message });
  }
  for (const item of pending) rows.push({ kind: 'pending', key: `p:${item.clientId}`, item });
  return rows;
}

export class MessageList {
  /** @param {{client: object, focusComposer: () => void}} options */
  constructor({ client, focusComposer }) {
    this.client = client;
    this.els = elementsById(['messages', 'message-list', 'load-older', 'history-status', 'no-messages',
      'jump-latest']);
    this.renderedConv = undefined;
    this.forceBottom = false;
    const { els } = this;
    this.cleanups = [
      listen(els.messages, 'scroll', () => this._onScroll(), { passive: true }),
      listen(els.loadOlder, 'click', () => client.loadOlder()),
      listen(els.jumpLatest, 'click', () => {
        this._scrollToBottom();
        focusComposer();
      }),
      listen(els.messageList, 'click', (event) => {
        const button = event.target.closest('button[data-action]');
        if (!button) return;
        if (button.dataset.action === 'retry') client.retry(button.dataset.clientId);
        if (button.dataset.action === 'discard') client.discard(button.dataset.clientId);
      }),
    ];
  }

  destroy() {
    for (const cleanup of this.cleanups) cleanup();
    this.els.messageList.replaceChildren();
  }

  /** The next render ends at the newest message, wherever the user was reading. */
  stickToBottom() {
    this.forceBottom = true;
  }

  render() {
    const { client, els } = this;
    const conv = client.active;
    if (!conv) {
      this.renderedConv = null;
      return;
    }
    const member = client.memberships.isMember(conv);
    const log = client.history.log(conv);
    const box = els.messages;
    const convChanged = this.renderedConv !== conv;
    this.renderedConv = conv;
    const nearBottom = this._nearBottom();
    const previousFirst = els.messageList.querySelector('li.msg');
    const previousTop = previousFirst ? previousFirst.offsetTop : 0;
    const previousLastKey = els.messageList.lastElementChild?.dataset.key;

    const rows = messageRows(member && log ? log.messages : [], client.sending.forConversation(conv));
    const connected = client.status === 'connected';
    renderKeyed(els.messageList, rows, (row) => row.key, (row) => {
      if (row.kind === 'day') return createDaySeparator(row.label);
      return createMessageItem({ message: row.message ?? null, pending: row.item ?? null, me: client.me });
    }, (el, row) => {
      if (row.kind === 'pending') updatePendingItem(el, row.item, connected);
    });

    const loaded = Boolean(log?.loaded);
    show(els.noMessages, member && loaded && rows.length === 0);
    const loadingOlder = client.history.isLoadingOlder(conv);
    show(els.loadOlder, member && loaded && log.hasOlder === true);
    els.loadOlder.disabled = loadingOlder;
    setText(els.loadOlder, loadingOlder ? 'Loading older messages…' : 'Load older messages');
    let status = '';
    if (member && !loaded) status = connected ? 'Loading messages…' : 'Messages load once connected.';
    else if (member && loaded && log.hasOlder === false && rows.length > 0) status = 'This is the beginning of the conversation.';
    setText(els.historyStatus, status);

    // Scrolling: stay at the bottom when we were there; keep the view still when older
    // messages were added above; otherwise offer a jump to the new ones.
    const lastKey = els.messageList.lastElementChild?.dataset.key;
    if (convChanged || this.forceBottom || nearBottom) {
      this.forceBottom = false;
      this._scrollToBottom();
    } else if (previousFirst && previousFirst.isConnected && previousFirst.offsetTop !== previousTop) {
      box.scrollTop += previousFirst.offsetTop - previousTop;
    }
    if (!convChanged && lastKey !== previousLastKey && !this._nearBottom()) show(els.jumpLatest, true);
    // If there is nothing to scroll yet, older messages cannot be reached by scrolling: fetch them.
    if (member && loaded && log.hasOlder && box.scrollHeight <= box.clientHeight && !loadingOlder) {
      client.loadOlder(conv);
    }
  }

  _onScroll() {
    if (this.els.messages.scrollTop < LOAD_OLDER_PX && this.client.active) this.client.loadOlder();
    if (this._nearBottom()) show(this.els.jumpLatest, false);
  }

  _nearBottom() {
    const box = this.els.messages;
    return box.scrollHeight - box.scrollTop - box.clientHeight < NEAR_BOTTOM_PX;
  }

  _scrollToBottom() {
    const box = this.els.messages;
    box.scrollTop = box.scrollHeight;
    show(this.els.jumpLatest, false);
  }
}
