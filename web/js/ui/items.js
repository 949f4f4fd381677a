// One factory for each element the chat view repeats, so that each has one shape: a conversation
// in the sidebar, a user (online now, room members), a day separator and a message (ours still
// pending included). User data goes in as text only (h() and richText() never parse HTML).

import { h, richText, setText, show } from './dom.js';
import { formatFull, formatTime } from '../format.js';
import { sameUser } from '../conversations.js';

// ---- conversations (sidebar) ---------------------------------------------------------------

export function createConvItem() {
  return h('li', {}, h('button', { type: 'button', className: 'conv-link' },
    h('span', { className: 'conv-name' }), h('span', { className: 'conv-extra' }),
    h('span', { className: 'badge' }, h('span', {}), h('span', { className: 'visually-hidden' }))));
}

/** `joined`: the "joined" mark of the all-rooms list; `online`: a DM's peer is online. */
export function updateConvItem(el, { conv, label, current, unread, joined = false, online = null }) {
  const button = el.firstElementChild;
  button.dataset.conv = conv;
  if (current) button.setAttribute('aria-current', 'page');
  else button.removeAttribute('aria-current');
  const [name, extra] = button.children;
  setText(name, label);
  setText(extra, joined ? 'joined' : '');
  show(extra, joined);
  updateUnreadBadge(el, unread);
  if (online !== null) el.classList.toggle('is-online', online);
}

export function updateUnreadBadge(el, unread) {
  const badge = el.querySelector('.badge');
  show(badge, unread > 0);
  setText(badge.firstChild, unreadText(unread));
  setText(badge.lastChild, ` unread message${unread === 1 ? '' : 's'}`);
}

export function unreadText(count) {
  return count > 99 ? '99+' : String(count);
}

// ---- users (online now, room members) ------------------------------------------------------

/** Oneself as plain text; anyone else as a button that opens a DM (data-user). */
export function createUserItem(name, me) {
  if (sameUser(name, me)) {
    return h('li', { className: 'user self' }, h('span', { className: 'user-name' }, name),
      h('span', { className: 'you' }, ' (you)'));
  }
  return h('li', { className: 'user' }, h('button', { type: 'button', className: 'user-link', dataset: { user: name },
    title: `Send a direct message to ${name}` },
  h('span', { className: 'visually-hidden' }, 'Message '), h('span', { className: 'user-name' }, name)));
}

// ---- messages --------------------------------------------------------------------------------

export function createDaySeparator(label) {
  return h('li', { className: 'day', role: 'separator' }, h('span', {}, label));
}

/** A message from the server, or (`pending`, an outbox item) one of ours not confirmed yet. */
export function createMessageItem({ message = null, pending = null, me }) {
  const sender = message ? message.sender : me;
  const li = h('li', { className: `msg${sameUser(sender, me) ? ' mine' : ''}` });
  const meta = h('p', { className: 'msg-meta' }, h('span', { className: 'msg-sender' }, sender));
  if (message) {
    meta.append(' ', h('time', { className: 'msg-time', datetime: message.ts, title: formatFull(message.ts) },
      formatTime(message.ts)));
  } else {
    meta.append(' ', h('span', { className: 'msg-state' }));
  }
  const text = h('p', { className: 'msg-text' });
  text.append(richText(message ? message.text : pending.text));
  li.append(meta, text);
  if (pending) {
    const action = (name, label) => h('button', { type: 'button', className: 'button small subtle',
      dataset: { action: name, clientId: pending.clientId } }, label);
    li.append(h('p', { className: 'msg-failed' }, h('span', { className: 'msg-error' }),
      ' ', action('retry', 'Retry'), ' ', action('discard', 'Discard')));
  }
  return li;
}

/** A pending message's state: sending, waiting for the connection, or refused (Retry, Discard). */
export function updatePendingItem(el, { state, error }, connected) {
  el.classList.add('pending');
  el.classList.toggle('failed', state === 'failed');
  el.dataset.state = state;
  let label = 'Sending…';
  if (state === 'failed') label = 'Not sent';
  else if (!connected) label = 'Waiting for connection…';
  setText(el.querySelector('.msg-state'), label);
  show(el.querySelector('.msg-failed'), state === 'failed');
  setText(el.querySelector('.msg-error'), error ?? '');
}
