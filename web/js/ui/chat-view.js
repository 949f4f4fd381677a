// The main view: sidebar, conversation pane, composer. Renders the ChatClient's state.
// Every piece of user data goes in as text (textContent / text nodes) or via richText().

import { byId, h, renderKeyed, richText, setText, show, showFieldErrors, showFormError } from './dom.js';
import { dayKey, dayLabel, formatFull, formatTime } from '../format.js';
import { typingText } from '../typing.js';
import { isDmId, sameUser } from '../conversations.js';
import { validateRoom } from '../validation.js';

const STATUS_TEXT = {
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
  closed: 'Disconnected',
};

const PHONE_QUERY = '(max-width: 719.98px)';
const NEAR_BOTTOM_PX = 80;
const LOAD_OLDER_PX = 120;

export class ChatView {
  constructor({ client, onLogout }) {
    this.client = client;
    this.onLogout = onLogout;
    this.root = byId('chat-view');
    this.els = Object.fromEntries([
      'menu-button', 'menu-unread', 'conn-status', 'conn-text', 'me-name', 'logout-button', 'sidebar',
      'drawer-close', 'drawer-backdrop', 'joined-list', 'joined-empty', 'dm-list', 'dm-empty', 'room-list',
      'rooms-empty', 'online-list', 'new-room-toggle', 'new-room-form', 'new-room-cancel', 'room-error',
      'room-name', 'room-description', 'conversation', 'empty-state', 'empty-open-drawer', 'conv-pane',
      'conv-title', 'conv-subtitle', 'members-toggle', 'members-count', 'join-button', 'leave-button',
      'messages', 'load-older', 'history-status', 'message-list', 'no-messages', 'jump-latest',
      'members-panel', 'member-list', 'typing', 'join-hint', 'join-hint-button', 'composer',
      'composer-input', 'send-button', 'composer-error', 'notices',
    ].map((id) => [id.replace(/-([a-z])/g, (_, c) => c.toUpperCase()), byId(id)]));
    this.phone = window.matchMedia(PHONE_QUERY);
    this.renderQueued = false;
    this.renderedConv = undefined;
    this.forceBottom = false;
    this.cleanups = [];
    this._bind();
  }

  show() {
    this.root.hidden = false;
    setText(this.els.meName, this.client.me);
    document.title = 'Chat';
    this.scheduleRender();
  }

  destroy() {
    for (const cleanup of this.cleanups) cleanup();
    this.cleanups = [];
    this._setDrawer(false);
    this.root.hidden = true;
    for (const list of [this.els.joinedList, this.els.dmList, this.els.roomList, this.els.onlineList,
      this.els.messageList, this.els.memberList, this.els.notices]) list.replaceChildren();
    this.els.composerInput.value = '';
    this.els.newRoomForm.hidden = true;
    this.els.convPane.classList.remove('members-open');
  }

  // ---- events ------------------------------------------------------------------------------

  _listen(target, type, handler, options) {
    target.addEventListener(type, handler, options);
    this.cleanups.push(() => target.removeEventListener(type, handler, options));
  }

  _bind() {
    const { els, client } = this;
    for (const type of ['status', 'rooms', 'online', 'unread', 'messages', 'outbox', 'members', 'typing']) {
      this.cleanups.push(client.on(type, () => this.scheduleRender()));
    }
    this.cleanups.push(client.on('active', () => {
      this.forceBottom = true;
      this.scheduleRender();
    }));
    this.cleanups.push(client.on('notice', ({ text, kind }) => this.notify(text, kind)));

    this._listen(els.logoutButton, 'click', () => this.onLogout());
    this._listen(els.menuButton, 'click', () => {
      const open = !this.root.classList.contains('drawer-open');
      this._setDrawer(open);
      if (open) this._refreshLists();
    });
    this._listen(els.emptyOpenDrawer, 'click', () => this._setDrawer(true));
    this._listen(els.drawerClose, 'click', () => this._setDrawer(false, true));
    this._listen(els.drawerBackdrop, 'click', () => this._setDrawer(false, true));
    this._listen(this.phone, 'change', () => {
      if (!this.phone.matches) this._setDrawer(false);
    });
    this._listen(document, 'keydown', (event) => {
      if (event.key !== 'Escape') return;
      if (this.root.classList.contains('drawer-open')) {
        this._setDrawer(false, true);
      } else if (this.els.convPane.classList.contains('members-open')) {
        this._setMembers(false);
        els.membersToggle.focus();
      }
    });

    // Sidebar: one listener per list, the item says what to open.
    for (const list of [els.joinedList, els.dmList, els.roomList]) {
      this._listen(list, 'click', (event) => {
        const button = event.target.closest('button[data-conv]');
        if (button) this.openConversation(button.dataset.conv);
      });
    }
    for (const list of [els.onlineList, els.memberList]) {
      this._listen(list, 'click', (event) => {
        const button = event.target.closest('button[data-user]');
        if (!button) return;
        const id = client.startDm(button.dataset.user);
        if (id) this._afterOpen();
      });
    }

    this._listen(els.newRoomToggle, 'click', () => this._toggleNewRoom());
    this._listen(els.newRoomCancel, 'click', () => this._toggleNewRoom(false));
    this._listen(els.newRoomForm, 'submit', (event) => this._createRoom(event));

    this._listen(els.joinButton, 'click', () => this._join());
    this._listen(els.joinHintButton, 'click', () => this._join());
    this._listen(els.leaveButton, 'click', () => {
      if (client.active) client.leave(client.active);
    });
    this._listen(els.membersToggle, 'click', () => {
      this._setMembers(!els.convPane.classList.contains('members-open'));
    });

    this._listen(els.messages, 'scroll', () => this._onScroll(), { passive: true });
    this._listen(els.loadOlder, 'click', () => client.loadOlder());
    this._listen(els.jumpLatest, 'click', () => {
      this._scrollToBottom();
      els.composerInput.focus();
    });
    this._listen(els.messageList, 'click', (event) => {
      const button = event.target.closest('button[data-action]');
      if (!button) return;
      if (button.dataset.action === 'retry') client.retry(button.dataset.clientId);
      if (button.dataset.action === 'discard') client.discard(button.dataset.clientId);
    });

    this._listen(els.composer, 'submit', (event) => {
      event.preventDefault();
      this._send();
    });
    this._listen(els.composerInput, 'keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing && !event.altKey
        && !event.ctrlKey && !event.metaKey) {
        event.preventDefault();
        this._send();
      }
    });
    this._listen(els.composerInput, 'input', () => {
      showFormError(els.composerError, '');
      if (els.composerInput.value.trim()) client.notifyTyping();
    });

    this._listen(document, 'visibilitychange', () => {
      client.setVisible(!document.hidden);
      if (!document.hidden) this._refreshLists();
    });
    this._listen(window, 'focus', () => this._refreshLists());
    this._listen(window, 'online', () => client.setNetwork(true));
    this._listen(window, 'offline', () => client.setNetwork(false));
  }

  /** Rooms and online users are polled; also refresh them when the user comes back. */
  _refreshLists() {
    const now = Date.now();
    if (this.lastListRefresh && now - this.lastListRefresh < 5000) return;
    this.lastListRefresh = now;
    this.client.refreshRooms().catch(() => {});
    this.client.refreshOnline().catch(() => {});
  }

  openConversation(conv) {
    this.client.open(conv);
    this._afterOpen();
  }

  _afterOpen() {
    const conv = this.client.active;
    if (conv) history.replaceState(null, '', `#/c/${encodeURIComponent(conv)}`);
    this._setMembers(false);
    const wasDrawer = this.root.classList.contains('drawer-open');
    this._setDrawer(false);
    this.render();
    // Move focus to the conversation so keyboard and screen-reader users land in it.
    if (wasDrawer || document.activeElement?.closest('#sidebar, #members-panel')) {
      const target = this.client.memberships.isMember(conv) ? this.els.composerInput : this.els.convTitle;
      target.focus();
    }
  }

  _setDrawer(open, returnFocus = false) {
    const isOpen = open && this.phone.matches;
    this.root.classList.toggle('drawer-open', isOpen);
    this.els.menuButton.setAttribute('aria-expanded', String(isOpen));
    this.els.drawerBackdrop.hidden = !isOpen;
    // While the drawer is open on a phone, the rest of the page is out of reach.
    for (const el of [this.els.conversation, this.root.querySelector('.topbar')]) el.inert = isOpen;
    if (isOpen) this.els.drawerClose.focus();
    else if (returnFocus) this.els.menuButton.focus();
  }

  _setMembers(open) {
    this.els.convPane.classList.toggle('members-open', open);
    this.els.membersToggle.setAttribute('aria-expanded', String(open));
  }

  _toggleNewRoom(force) {
    const open = force ?? this.els.newRoomForm.hidden;
    this.els.newRoomForm.hidden = !open;
    this.els.newRoomToggle.setAttribute('aria-expanded', String(open));
    if (open) {
      this.els.roomName.focus();
    } else {
      this.els.newRoomForm.reset();
      showFieldErrors(this.els.newRoomForm, 'room', {});
      showFormError(this.els.roomError, '');
      this.els.newRoomToggle.focus();
    }
  }

  async _createRoom(event) {
    event.preventDefault();
    const form = this.els.newRoomForm;
    const values = { name: this.els.roomName.value, description: this.els.roomDescription.value };
    const errors = validateRoom(values);
    const first = showFieldErrors(form, 'room', errors);
    showFormError(this.els.roomError, '');
    if (first) {
      first.focus();
      return;
    }
    const submit = form.querySelector('button[type="submit"]');
    submit.disabled = true;
    try {
      await this.client.createRoom(values.name, values.description);
      form.reset();
      form.hidden = true;
      this.els.newRoomToggle.setAttribute('aria-expanded', 'false');
      this._afterOpen();
      this._focusComposerWhenJoined();
    } catch (error) {
      const fields = {};
      for (const [name, reason] of Object.entries(error.fields ?? {})) fields[name] = reason;
      const firstField = showFieldErrors(form, 'room', fields);
      let message = error.message || 'Could not create the room.';
      if (error.status === 409) message = 'A room with that name already exists. Pick another name.';
      else if (error.status === 429) message = 'Too many requests. Please wait a moment and try again.';
      else if (error.status === 0) message = 'Could not reach the server. Try again when you are online.';
      showFormError(this.els.roomError, message);
      (firstField ?? this.els.roomName).focus();
    } finally {
      submit.disabled = false;
    }
  }

  _join() {
    const conv = this.client.active;
    if (!conv || isDmId(conv)) return;
    this.client.join(conv);
    this._focusComposerWhenJoined();
    this.render();
  }

  /** The composer appears once the server confirms the join: keyboard focus goes there then. */
  _focusComposerWhenJoined() {
    this.focusComposerFor = this.client.active;
    this.els.convTitle.focus();
  }

  _send() {
    const input = this.els.composerInput;
    const result = this.client.sendMessage(input.value);
    if (result.error) {
      showFormError(this.els.composerError, result.error);
      return;
    }
    input.value = '';
    showFormError(this.els.composerError, '');
    this.forceBottom = true;
    this.render();
    input.focus();
  }

  _onScroll() {
    const box = this.els.messages;
    if (box.scrollTop < LOAD_OLDER_PX && this.client.active) this.client.loadOlder();
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

  notify(text, kind = 'info') {
    const item = h('p', { className: `toast ${kind}` }, text);
    this.els.notices.append(item);
    setTimeout(() => item.remove(), 6000);
  }

  // ---- rendering ---------------------------------------------------------------------------

  scheduleRender() {
    if (this.renderQueued) return;
    this.renderQueued = true;
    queueMicrotask(() => {
      this.renderQueued = false;
      this.render();
    });
  }

  render() {
    if (this.root.hidden) return;
    this._renderStatus();
    this._renderSidebar();
    this._renderConversation();
  }

  _renderStatus() {
    const { status } = this.client;
    const waiting = this.client.sending.waitingCount();
    let text = STATUS_TEXT[status] ?? status;
    if (status !== 'connected' && waiting) {
      text += ` – ${waiting} message${waiting === 1 ? '' : 's'} waiting`;
    }
    this.els.connStatus.dataset.state = status;
    setText(this.els.connText, text);
  }

  _convButton(el, { conv, label, unread, joined }) {
    const button = el.firstElementChild;
    button.dataset.conv = conv;
    if (conv === this.client.active) button.setAttribute('aria-current', 'page');
    else button.removeAttribute('aria-current');
    const [name, extra, badge] = button.children;
    setText(name, label);
    setText(extra, joined ? 'joined' : '');
    show(extra, Boolean(joined));
    show(badge, unread > 0);
    setText(badge.firstChild, unread > 99 ? '99+' : String(unread));
    setText(badge.lastChild, ` unread message${unread === 1 ? '' : 's'}`);
  }

  _renderSidebar() {
    const { client, els } = this;
    const makeConvItem = () => h('li', {}, h('button', { type: 'button', className: 'conv-link' },
      h('span', { className: 'conv-name' }), h('span', { className: 'conv-extra' }),
      h('span', { className: 'badge' }, h('span', {}), h('span', { className: 'visually-hidden' }))));

    const joined = client.memberships.joinedRoomList();
    renderKeyed(els.joinedList, joined, (room) => room.id, makeConvItem, (el, room) => this._convButton(el,
      { conv: room.id, label: room.name, unread: client.unread(room.id) }));
    show(els.joinedEmpty, joined.length === 0);

    const dms = client.memberships.dmList((id) => client.history.newestId(id));
    renderKeyed(els.dmList, dms, (dm) => dm.id, makeConvItem, (el, dm) => {
      this._convButton(el, { conv: dm.id, label: dm.user, unread: client.unread(dm.id) });
      el.classList.toggle('is-online', client.presence.isOnline(dm.user));
    });
    show(els.dmEmpty, dms.length === 0);

    const rooms = client.memberships.roomList();
    renderKeyed(els.roomList, rooms, (room) => room.id, makeConvItem, (el, room) => this._convButton(el,
      { conv: room.id, label: room.name, unread: 0, joined: client.memberships.joined.has(room.id) }));
    show(els.roomsEmpty, rooms.length === 0);

    renderKeyed(els.onlineList, client.presence.online, (name) => name.toLowerCase(), (name) => {
      if (sameUser(name, client.me)) {
        return h('li', { className: 'user self' }, h('span', { className: 'user-name' }, name),
          h('span', { className: 'you' }, ' (you)'));
      }
      return h('li', { className: 'user' }, h('button', { type: 'button', className: 'user-link', dataset: { user: name },
        title: `Send a direct message to ${name}` },
      h('span', { className: 'visually-hidden' }, 'Message '), h('span', { className: 'user-name' }, name)));
    }, () => {});

    const totalUnread = [...joined.map((room) => room.id), ...dms.map((dm) => dm.id)]
      .reduce((sum, id) => sum + client.unread(id), 0);
    show(els.menuUnread, totalUnread > 0);
    setText(els.menuUnread, totalUnread > 99 ? '99+' : String(totalUnread));
    const title = client.active ? `${client.memberships.describe(client.active).title} – Chat` : 'Chat';
    document.title = totalUnread > 0 ? `(${totalUnread}) ${title}` : title;
  }

  _renderConversation() {
    const { client, els } = this;
    const conv = client.active;
    show(els.emptyState, !conv);
    show(els.convPane, Boolean(conv));
    if (!conv) {
      this.renderedConv = null;
      return;
    }
    const info = client.memberships.describe(conv);
    const dm = info.kind === 'dm';
    const member = client.memberships.isMember(conv);
    const joining = client.memberships.isJoining(conv);
    const connected = client.status === 'connected';

    setText(els.convTitle, info.title);
    els.convTitle.title = info.title;
    els.convPane.classList.toggle('is-dm', dm);
    let subtitle = info.description;
    if (dm) {
      const online = client.presence.isOnline(info.peer);
      subtitle = `Direct message · ${online ? 'online' : 'offline'}`;
    }
    setText(els.convSubtitle, subtitle);
    show(els.convSubtitle, Boolean(subtitle));

    // Join / leave
    show(els.joinButton, !dm && !member);
    show(els.leaveButton, !dm && member);
    els.joinButton.disabled = joining;
    setText(els.joinButton, joining ? 'Joining…' : 'Join');
    els.leaveButton.disabled = !connected;
    els.joinHintButton.disabled = joining;
    setText(els.joinHintButton, joining ? 'Joining…' : 'Join room');
    show(els.joinHint, !dm && !member);
    show(els.composer, member);
    if (this.focusComposerFor) {
      if (this.focusComposerFor !== conv) this.focusComposerFor = null;
      else if (member) {
        this.focusComposerFor = null;
        // Only if the user has not moved on meanwhile.
        if (document.activeElement === els.convTitle || document.activeElement === document.body) {
          queueMicrotask(() => els.composerInput.focus());
        }
      }
    }

    // Online members of the room
    const members = client.presence.membersOf(conv);
    show(els.membersToggle, !dm && member);
    setText(els.membersCount, `(${members.length})`);
    els.convPane.classList.toggle('has-members', !dm && member);
    renderKeyed(els.memberList, members, (name) => name.toLowerCase(), (name) => {
      if (sameUser(name, client.me)) {
        return h('li', { className: 'user self' }, h('span', { className: 'user-name' }, name),
          h('span', { className: 'you' }, ' (you)'));
      }
      return h('li', { className: 'user' }, h('button', { type: 'button', className: 'user-link',
        dataset: { user: name }, title: `Send a direct message to ${name}` },
      h('span', { className: 'visually-hidden' }, 'Message '), h('span', { className: 'user-name' }, name)));
    }, () => {});

    // Typing
    setText(els.typing, typingText(client.presence.typingIn(conv)));

    // Composer
    let placeholder = info.title.length <= 24 ? `Message ${info.title}` : 'Write a message…';
    if (!connected) placeholder = 'Offline: messages are sent when reconnected';
    if (els.composerInput.placeholder !== placeholder) els.composerInput.placeholder = placeholder;

    this._renderMessages(conv, member);
  }

  _renderMessages(conv, member) {
    const { client, els } = this;
    const log = client.history.log(conv);
    const box = els.messages;
    const convChanged = this.renderedConv !== conv;
    this.renderedConv = conv;
    const nearBottom = this._nearBottom();
    const previousFirst = els.messageList.querySelector('li.msg');
    const previousTop = previousFirst ? previousFirst.offsetTop : 0;
    const previousLastKey = els.messageList.lastElementChild?.dataset.key;

    const items = [];
    let lastDay = null;
    const now = new Date();
    const addDay = (ts) => {
      const day = dayKey(ts);
      if (day && day !== lastDay) {
        items.push({ kind: 'day', key: `d:${day}`, label: dayLabel(ts, now) });
        lastDay = day;
      }
    };
    for (const message of (member && log ? log.messages : [])) {
      addDay(message.ts);
      items.push({ kind: 'msg', key: `m:${message.id}`, message });
    }
    for (const item of client.sending.forConversation(conv)) {
      items.push({ kind: 'pending', key: `p:${item.clientId}`, item });
    }

    renderKeyed(els.messageList, items, (item) => item.key, (item) => this._createItem(item),
      (el, item) => this._updateItem(el, item));

    const loaded = Boolean(log?.loaded);
    show(els.noMessages, member && loaded && items.length === 0);
    const loadingOlder = client.history.isLoadingOlder(conv);
    show(els.loadOlder, member && loaded && log.hasOlder === true);
    els.loadOlder.disabled = loadingOlder;
    setText(els.loadOlder, loadingOlder ? 'Loading older messages…' : 'Load older messages');
    let status = '';
    if (member && !loaded) status = client.status === 'connected' ? 'Loading messages…' : 'Messages load once connected.';
    else if (member && loaded && log.hasOlder === false && items.length > 0) status = 'This is the beginning of the conversation.';
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

  _createItem(item) {
    if (item.kind === 'day') {
      return h('li', { className: 'day', role: 'separator' }, h('span', {}, item.label));
    }
    const message = item.kind === 'msg' ? item.message : null;
    const sender = message ? message.sender : this.client.me;
    const mine = sameUser(sender, this.client.me);
    const li = h('li', { className: `msg${mine ? ' mine' : ''}` });
    const meta = h('p', { className: 'msg-meta' }, h('span', { className: 'msg-sender' }, sender));
    if (message) {
      meta.append(' ', h('time', { className: 'msg-time', datetime: message.ts, title: formatFull(message.ts) },
        formatTime(message.ts)));
    } else {
      meta.append(' ', h('span', { className: 'msg-state' }));
    }
    const text = h('p', { className: 'msg-text' });
    text.append(richText(message ? message.text : item.item.text));
    li.append(meta, text);
    if (!message) {
      li.append(h('p', { className: 'msg-failed' }, h('span', { className: 'msg-error' }),
        ' ', h('button', { type: 'button', className: 'button small subtle', dataset: { action: 'retry',
          clientId: item.item.clientId } }, 'Retry'),
        ' ', h('button', { type: 'button', className: 'button small subtle', dataset: { action: 'discard',
          clientId: item.item.clientId } }, 'Discard')));
    }
    return li;
  }

  _updateItem(el, item) {
    if (item.kind !== 'pending') return;
    const { state, error } = item.item;
    const connected = this.client.status === 'connected';
    el.classList.add('pending');
    el.classList.toggle('failed', state === 'failed');
    el.dataset.state = state;
    let label = 'Sending…';
    if (state === 'failed') label = 'Not sent';
    else if (!connected) label = 'Waiting for connection…';
    setText(el.querySelector('.msg-state'), label);
    const failed = el.querySelector('.msg-failed');
    show(failed, state === 'failed');
    setText(el.querySelector('.msg-error'), error ?? '');
  }
}
