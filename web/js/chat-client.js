// The chat client: the one object the view talks to. No DOM access: the REST API, the connection,
// the storages, the clock and the id generator are passed in, so the whole reconnect-and-catch-up
// behaviour is unit-tested under Node with fakes.
//
// It owns the lifecycle (start, stop, what happens on every (re)connection), the user's actions,
// and hands each server frame to the part that owns its state; the view reads state from the parts:
//   client.memberships  client/memberships.js  rooms, memberships, joins, DMs
//   client.history      client/history.js      each conversation's messages, history paging
//   client.read         client/read-state.js   read markers
//   client.presence     client/presence.js     users online, room members, typing
//   client.sending      client/send-queue.js   the outbox and when its messages go out
//
// Events, each emitted when what the view shows of it may have changed:
//   'status'            the connection status (client.status)
//   'rooms'             the rooms, memberships, joins in progress or DMs
//   'online'            the users online
//   'active'            the open conversation (client.active)
//   'unread'            an unread count
//   'messages', conv    a conversation's messages or whether older ones are loading
//   'outbox', conv      a conversation's unconfirmed messages
//   'members', room     a room's online members (null: every room's)
//   'typing', conv      who is typing (null: someone stopped, anywhere)
//   'notice', {text, kind}  something to tell the user
//   'unauthorized'      the server refused the token

import { Emitter } from './emitter.js';
import { dmPeer, isDmId, roomIdOf, sameUser } from './conversations.js';
import { browserTimers } from './timers.js';
import { validateMessage } from './validation.js';
import { History } from './client/history.js';
import { Memberships } from './client/memberships.js';
import { Presence } from './client/presence.js';
import { ReadMarkers } from './client/read-state.js';
import { SendQueue } from './client/send-queue.js';

export const CLIENT_DEFAULTS = Object.freeze({
  historyTimeoutMs: 15_000,
  maxCatchUpPages: 10,
  onlineRefreshMs: 30_000,
  roomsRefreshMs: 30_000,
  outboxCheckMs: 5_000,
  resendAfterMs: 15_000,
  presenceRefreshDelayMs: 1_000,
  joinRetryDelayMs: 3_000,
  maxJoinRetries: 5,
});

/** What an error frame's `action` was trying to do, for the notice. */
const ATTEMPTED = { join: 'join the room', leave: 'leave the room', history: 'load messages',
  send: 'send the message', dm: 'send the message' };

export class ChatClient extends Emitter {
  /**
   * @param {object} options
   * @param {object} options.api the REST client (see api.js)
   * @param {{username: string}} options.user the signed-in user
   * @param {(handlers: object) => import('./connection.js').Connection} options.createConnection
   * @param {Storage} options.persistent where read markers are kept (localStorage)
   * @param {Storage} options.session where unsent messages are kept (sessionStorage)
   */
  constructor({ api, user, createConnection, persistent = null, session = null, now = () => Date.now(),
    uuid = () => globalThis.crypto.randomUUID(), timers = browserTimers, settings = {} }) {
    super();
    this.api = api;
    this.me = user.username;
    this.now = now;
    this.uuid = uuid;
    this.timers = timers;
    this.settings = { ...CLIENT_DEFAULTS, ...settings };
    this.active = null;
    this.visible = true;
    this.status = 'connecting';
    this.stopped = false;
    this.ready = false; // connected, and the rooms have been re-joined: the outbox may go
    this._intervals = [];
    this._initialSync = null;

    const connection = createConnection({
      onFrame: (frame) => this.handleFrame(frame),
      onOpen: () => this._onOpen(),
      onStatus: (status) => this._onStatus(status),
      onClose: (info) => this._onClose(info),
    });
    this.connection = connection;
    const { me, settings: s } = this;
    const emit = (type, detail) => this.emit(type, detail);
    this.history = new History({ connection, emit, now, timeoutMs: s.historyTimeoutMs,
      maxCatchUpPages: s.maxCatchUpPages });
    this.memberships = new Memberships({ me, connection, emit, timers,
      cursorFor: (id) => this.history.joinCursor(id), retryDelayMs: s.joinRetryDelayMs,
      maxRetries: s.maxJoinRetries });
    this.read = new ReadMarkers({ storage: persistent, me });
    this.presence = new Presence({ api, me, connection, emit, now, timers,
      refreshDelayMs: s.presenceRefreshDelayMs });
    this.sending = new SendQueue({ storage: session, me, connection, emit, now, resendAfterMs: s.resendAfterMs,
      canSendNow: (conv) => this.memberships.canSendNow(conv), refusal: (conv) => this.memberships.refusal(conv) });
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  start() {
    this._initialSync = this.syncMembership().catch(() => {});
    this.refreshRooms().catch(() => {});
    this.refreshOnline().catch(() => {});
    this.connection.start();
    const every = (ms, fn) => this._intervals.push(this.timers.setInterval(fn, ms));
    every(this.settings.onlineRefreshMs, () => this.refreshOnline().catch(() => {}));
    every(this.settings.roomsRefreshMs, () => this.refreshRooms().catch(() => {}));
    every(this.settings.outboxCheckMs, () => this.flushOutbox());
    return this._initialSync;
  }

  stop() {
    this.stopped = true;
    for (const id of this._intervals) this.timers.clearInterval(id);
    this._intervals = [];
    this.presence.stop();
    this.memberships.stop();
    this.connection.stop();
  }

  /** Forgets what this user left on this device (on logout). */
  forgetLocalData() {
    this.sending.forget();
  }

  setVisible(visible) {
    this.visible = visible;
    if (visible) {
      if (this.active) this.markRead(this.active);
      this.connection.checkAlive();
    }
  }

  setNetwork(up) {
    this.connection.setNetwork(up);
  }

  // ---- REST ----------------------------------------------------------------------------------

  async syncMembership() {
    const data = await this.api.myRooms();
    for (const id of this.memberships.applyMine(data)) this._forgetRoom(id); // left on another device
    return data;
  }

  async refreshRooms() {
    this.memberships.applyCatalogue(await this.api.rooms());
  }

  refreshOnline() {
    return this.presence.refreshOnline();
  }

  async createRoom(name, description = '') {
    const data = await this.api.createRoom(name.trim(), description.trim());
    const room = data.room;
    this.memberships.addRoom(room);
    this.join(room.id);
    this.open(room.id);
    return room;
  }

  // ---- state that needs more than one part ---------------------------------------------------

  /** The open conversation, while the tab is visible, has nothing unread by definition. */
  unread(conv) {
    if (conv === this.active && this.visible) return 0;
    const log = this.history.log(conv);
    return log ? this.read.unread(conv, log.messages) : 0;
  }

  // ---- user actions ------------------------------------------------------------------------

  open(conv) {
    this.active = conv || null;
    if (conv) {
      if (isDmId(conv)) this.history.loadLatestOnce(conv);
      this.markRead(conv);
    }
    this.emit('active');
  }

  startDm(username) {
    const id = this.memberships.startDm(username);
    if (id) this.open(id);
    return id;
  }

  join(roomId) {
    return this.memberships.join(roomId);
  }

  leave(roomId) {
    return this.memberships.leave(roomId);
  }

  /** Queues a message for the active conversation and sends it if connected. */
  sendMessage(text, conv = this.active) {
    if (!conv) return { error: 'Open a conversation first.' };
    const error = validateMessage(text);
    if (error) return { error };
    if (!this.memberships.isMember(conv)) return { error: 'Join the room to send messages.' };
    const to = isDmId(conv) ? this.memberships.dmUser(conv) : null;
    const item = this.sending.add({ clientId: this.uuid(), conv, text: String(text).trim(), to,
      createdAt: this.now() });
    this.presence.sentMessage(conv);
    this.flushOutbox();
    return { item };
  }

  retry(clientId) {
    if (this.sending.retry(clientId)) this.flushOutbox();
  }

  discard(clientId) {
    this.sending.discard(clientId);
  }

  /** The user is typing in the active conversation: tell the others, at most every few seconds. */
  notifyTyping(conv = this.active) {
    if (!conv || !this.connection.connected || !this.memberships.canSendNow(conv)) return false;
    return this.presence.notifyTyping(conv);
  }

  loadOlder(conv = this.active) {
    return this.history.loadOlder(conv);
  }

  /** Only what the user can see counts as read: the open conversation in a visible tab. */
  markRead(conv) {
    if (!this.visible || conv !== this.active) return;
    if (this.read.markRead(conv, this.history.newestId(conv))) this.emit('unread');
  }

  flushOutbox() {
    if (this.stopped || !this.ready || !this.connection.connected) return;
    this.sending.flush();
  }

  // ---- connection events -------------------------------------------------------------------

  /** Every (re)connection: memberships again, rooms re-joined, DMs caught up, then the outbox. */
  async _onOpen() {
    const opens = this.connection.opens;
    this.memberships.connectionOpened();
    this.history.reset();
    this.sending.requeue();
    if (opens === 1 && this._initialSync) {
      await this._initialSync;
    } else {
      // Memberships may have changed on another device while this one was away.
      await this.syncMembership().catch(() => {});
    }
    if (!this.connection.connected || this.connection.opens !== opens) return;
    this.memberships.rejoinAll();
    for (const id of this.memberships.dms.keys()) this.history.catchUp(id);
    this.ready = true;
    this.flushOutbox();
    this.refreshOnline().catch(() => {});
  }

  _onStatus(status) {
    this.status = status;
    if (status !== 'connected') {
      this.ready = false;
      this.memberships.connectionLost();
      this.presence.connectionLost();
    }
    this.emit('status');
  }

  _onClose(info) {
    // A handshake refused twice in a row may mean the token expired: check it over REST,
    // whose 401 signs the user out (the browser hides why a WebSocket handshake failed).
    if (!info.opened && info.failures >= 2 && info.failures % 2 === 0) this.api.me().catch(() => {});
  }

  // ---- server frames (docs/protocol.md) --------------------------------------------------------

  handleFrame(frame) {
    switch (frame.type) {
      case 'joined': return this._onJoined(frame);
      case 'left': return this._onLeft(frame);
      case 'message': return this._onMessage(frame);
      case 'history': return this._onHistory(frame);
      case 'presence': return this.presence.onPresence(frame);
      case 'typing': return this.presence.onTyping(frame);
      case 'error': return this._onError(frame);
      default: return undefined; // newer server frame types are ignored
    }
  }

  _onJoined(frame) {
    const joined = this.memberships.onJoined(frame);
    if (!joined) return;
    const { id, after } = joined;
    this.presence.setMembers(id, frame.members);
    this._firstPage(id, this.history.onJoined(id, frame, after));
    this._afterMessages(id);
    this.flushOutbox();
  }

  _onLeft(frame) {
    const id = roomIdOf(frame.room);
    if (id) this._forgetRoom(id);
  }

  _onMessage(frame) {
    const message = frame.message;
    if (!message || typeof message.room !== 'string' || typeof message.id !== 'string') return;
    const conv = message.room;
    if (isDmId(conv) && !this.memberships.dms.has(conv)) {
      const mine = sameUser(message.sender, this.me);
      const user = mine ? (this.sending.recipientOf(message.client_id) ?? dmPeer(conv, this.me)) : message.sender;
      this.memberships.addDm(conv, user);
      this.read.startUnread(conv);
    }
    this.history.add(conv, [message]);
    if (message.client_id && sameUser(message.sender, this.me)) this.sending.confirm(message.client_id);
    this.presence.messageFrom(conv, message.sender);
    this._afterMessages(conv);
  }

  _onHistory(frame) {
    const conv = typeof frame.room === 'string' ? frame.room : null;
    if (!conv) return;
    this._firstPage(conv, this.history.onHistory(conv, frame));
    this._afterMessages(conv);
  }

  _onError(frame) {
    const { code, message, action } = frame;
    if (code === 'unauthorized') {
      this.emit('unauthorized');
      return;
    }
    if (frame.client_id && this.sending.fail(frame.client_id, message || 'The server refused this message.')) return;
    if (action === 'history') {
      this.history.failed();
      this.emit('messages', this.active);
    }
    if (action === 'join') this.memberships.onJoinError(code);
    if (action === 'typing' || action === 'ping') return;
    const attempted = ATTEMPTED[action] ?? 'do that';
    this.emit('notice', { kind: 'error', text: `Could not ${attempted}: ${message || code || 'error'}` });
  }

  // ---- rules across the parts ----------------------------------------------------------------

  _firstPage(conv, first) {
    if (first) this.read.firstLoad(conv, first.hadMessages, this.history.newestId(conv));
  }

  _afterMessages(conv) {
    if (conv === this.active) this.markRead(conv);
    this.emit('unread');
  }

  /** Out of a room (left here, on another device, or removed): nothing of it is kept. */
  _forgetRoom(id) {
    this.memberships.forget(id);
    this.presence.forgetRoom(id);
    this.history.forget(id);
    this.sending.failConversation(id, 'You left this room.');
  }
}
