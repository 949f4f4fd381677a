// The chat screen: the top bar (connection status, who is signed in), the layout (the sidebar as
// a drawer on phones, the members overlay), notices, and which part to update on which client
// event. The parts: Sidebar (sidebar.js), ConversationHeader (conversation-header.js),
// MessageList (message-list.js) and Composer (composer.js); list items come from items.js.

import { byId, elementsById, h, listen, setText, show } from './dom.js';
import { Composer } from './composer.js';
import { ConversationHeader } from './conversation-header.js';
import { MessageList } from './message-list.js';
import { Sidebar } from './sidebar.js';
import { isDmId } from '../conversations.js';

const STATUS_TEXT = {
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
  closed: 'Disconnected',
};

const PHONE_QUERY = '(max-width: 719.98px)';
const LIST_REFRESH_MIN_MS = 5_000;
const NOTICE_MS = 6_000;

/** What each part of the screen shows, in the order they are updated. */
export const PARTS = ['status', 'lists', 'online', 'unread', 'pane', 'header', 'members', 'composer', 'typing', 'messages'];

/** The parts a client event may change (see chat-client.js for the events). */
export const PARTS_FOR = {
  status: ['status', 'header', 'composer', 'messages'],
  rooms: ['lists', 'unread', 'header', 'members', 'composer', 'messages'],
  online: ['online', 'header'],
  active: ['lists', 'unread', 'pane', 'header', 'members', 'composer', 'typing', 'messages'],
  unread: ['unread'],
};

/** Events about one conversation: the parts they change if it is the open one (null: any). */
export const OPEN_CONV_PARTS_FOR = { messages: ['messages'], outbox: ['messages'], members: ['members'], typing: ['typing'] };

export class ChatView {
  constructor({ client, onLogout }) {
    this.client = client;
    this.root = byId('chat-view');
    this.els = elementsById(['menu-button', 'conn-status', 'conn-text', 'me-name', 'logout-button',
      'drawer-close', 'drawer-backdrop', 'conversation', 'empty-state', 'empty-open-drawer', 'conv-pane', 'notices']);
    this.phone = window.matchMedia(PHONE_QUERY);
    this.dirty = new Set();
    this.renderQueued = false;
    this.lastListRefresh = 0;

    const startDm = (username) => {
      if (client.startDm(username)) this._afterOpen();
    };
    this.sidebar = new Sidebar({ client, onOpen: (conv) => this.openConversation(conv), onStartDm: startDm,
      onRoomCreated: () => {
        this._afterOpen();
        this.composer.focusOnceJoined();
      } });
    this.header = new ConversationHeader({ client, onStartDm: startDm, onJoin: (conv) => {
      client.join(conv);
      this.composer.focusOnceJoined();
      this.renderNow();
    } });
    this.messageList = new MessageList({ client, focusComposer: () => this.composer.input.focus() });
    this.composer = new Composer({ client, onSent: () => {
      this.messageList.stickToBottom();
      this.renderNow();
    } });
    this.cleanups = [...this._listenToClient(), ...this._listenToPage(onLogout)];
  }

  show() {
    this.root.hidden = false;
    setText(this.els.meName, this.client.me);
    document.title = 'Chat';
    this._invalidate(PARTS);
  }

  destroy() {
    for (const cleanup of this.cleanups) cleanup();
    for (const part of [this.sidebar, this.header, this.messageList, this.composer]) part.destroy();
    this._setDrawer(false);
    this.root.hidden = true;
    this.els.notices.replaceChildren();
  }

  openConversation(conv) {
    this.client.open(conv);
    this._afterOpen();
  }

  notify(text, kind = 'info') {
    const item = h('p', { className: `toast ${kind}` }, text);
    this.els.notices.append(item);
    setTimeout(() => item.remove(), NOTICE_MS);
  }

  // ---- updating --------------------------------------------------------------------------------

  _listenToClient() {
    const { client } = this;
    const cleanups = Object.entries(PARTS_FOR).map(([type, parts]) => client.on(type, () => this._invalidate(parts)));
    for (const [type, parts] of Object.entries(OPEN_CONV_PARTS_FOR)) {
      cleanups.push(client.on(type, (conv) => {
        if (type === 'messages' && isDmId(conv)) this._invalidate(['lists']); // DMs are ordered by their newest
        if (type === 'outbox') this._invalidate(['status']); // "n messages waiting"
        if (conv === null || conv === client.active) this._invalidate(parts);
      }));
    }
    cleanups.push(client.on('active', () => this.messageList.stickToBottom()));
    cleanups.push(client.on('notice', ({ text, kind }) => this.notify(text, kind)));
    return cleanups;
  }

  /** Marks parts to update; they are updated together once the current task is done. */
  _invalidate(parts) {
    for (const part of parts) this.dirty.add(part);
    if (this.renderQueued) return;
    this.renderQueued = true;
    queueMicrotask(() => {
      this.renderQueued = false;
      this.renderNow();
    });
  }

  /** Updates what has changed now (e.g. before moving the focus into it). */
  renderNow() {
    if (this.root.hidden) return;
    const dirty = this.dirty;
    this.dirty = new Set();
    const render = {
      status: () => this._renderStatus(),
      lists: () => this.sidebar.renderLists(),
      online: () => this.sidebar.renderOnline(),
      unread: () => this.sidebar.renderUnread(),
      pane: () => this._renderPane(),
      header: () => this.header.render(),
      members: () => this.header.renderMembers(),
      composer: () => this.composer.render(),
      typing: () => this.composer.renderTyping(),
      messages: () => this.messageList.render(),
    };
    for (const part of PARTS) if (dirty.has(part)) render[part]();
  }

  _renderStatus() {
    const { status } = this.client;
    const waiting = this.client.sending.waitingCount();
    let text = STATUS_TEXT[status] ?? status;
    if (status !== 'connected' && waiting) text += ` – ${waiting} message${waiting === 1 ? '' : 's'} waiting`;
    this.els.connStatus.dataset.state = status;
    setText(this.els.connText, text);
  }

  _renderPane() {
    const open = Boolean(this.client.active);
    show(this.els.emptyState, !open);
    show(this.els.convPane, open);
  }

  // ---- the page around the parts -------------------------------------------------------------

  _listenToPage(onLogout) {
    const { els, client } = this;
    return [
      listen(els.logoutButton, 'click', () => onLogout()),
      listen(els.menuButton, 'click', () => {
        const open = !this.root.classList.contains('drawer-open');
        this._setDrawer(open);
        if (open) this._refreshLists();
      }),
      listen(els.emptyOpenDrawer, 'click', () => this._setDrawer(true)),
      listen(els.drawerClose, 'click', () => this._setDrawer(false, true)),
      listen(els.drawerBackdrop, 'click', () => this._setDrawer(false, true)),
      listen(this.phone, 'change', () => {
        if (!this.phone.matches) this._setDrawer(false);
      }),
      listen(document, 'keydown', (event) => {
        if (event.key !== 'Escape') return;
        if (this.root.classList.contains('drawer-open')) {
          this._setDrawer(false, true);
        } else if (this.header.membersOpen) {
          this.header.setMembersOpen(false);
          this.header.els.membersToggle.focus();
        }
      }),
      listen(document, 'visibilitychange', () => {
        client.setVisible(!document.hidden);
        if (!document.hidden) this._refreshLists();
      }),
      listen(window, 'focus', () => this._refreshLists()),
      listen(window, 'online', () => client.setNetwork(true)),
      listen(window, 'offline', () => client.setNetwork(false)),
    ];
  }

  /** Rooms and online users are polled; also refresh them when the user comes back. */
  _refreshLists() {
    const now = Date.now();
    if (now - this.lastListRefresh < LIST_REFRESH_MIN_MS) return;
    this.lastListRefresh = now;
    this.client.refreshRooms().catch(() => {});
    this.client.refreshOnline().catch(() => {});
  }

  _afterOpen() {
    const conv = this.client.active;
    if (conv) history.replaceState(null, '', `#/c/${encodeURIComponent(conv)}`);
    this.header.setMembersOpen(false);
    const wasDrawer = this.root.classList.contains('drawer-open');
    this._setDrawer(false);
    this.renderNow();
    // Move focus to the conversation so keyboard and screen-reader users land in it.
    if (wasDrawer || document.activeElement?.closest('#sidebar, #members-panel')) {
      const target = this.client.memberships.isMember(conv) ? this.composer.input : this.header.title;
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
}
