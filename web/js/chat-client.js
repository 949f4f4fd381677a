// The chat client's state and protocol logic: what the user has joined, the messages of each
// conversation, presence, typing, unread counts and the outbox. No DOM access: the REST API,
// the connection, the storages, the clock and the id generator are passed in, so the whole
// reconnect-and-catch-up behaviour is unit-tested under Node with fakes.
//
// Emits 'change' with {what, conv?} whenever something the view shows changes,
// 'notice' with {text, kind} for messages to the user, and 'unauthorized' when the server
// refuses the token.

import { Emitter } from './emitter.js';
import { ConversationLog, unreadCount, compareIds } from './messages.js';
import { Outbox, frameFor } from './outbox.js';
import { TypingThrottle, TypingTracker } from './typing.js';
import { dmId, dmPeer, isDmId, sameUser } from './conversations.js';
import { userRecord } from './storage.js';
import { validateMessage } from './validation.js';

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

const defaultTimers = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (id) => globalThis.clearTimeout(id),
  setInterval: (fn, ms) => globalThis.setInterval(fn, ms),
  clearInterval: (id) => globalThis.clearInterval(id),
};

function byName(a, b) {
  return String(a.name).localeCompare(String(b.name), undefined, { sensitivity: 'base' });
}

function roomIdOf(value) {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof value.id === 'string') return value.id;
  return null;
}

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
    uuid = () => globalThis.crypto.randomUUID(), timers = defaultTimers, settings = {} }) {
    super();
    this.api = api;
    this.user = user;
    this.me = user.username;
    this.now = now;
    this.uuid = uuid;
    this.timers = timers;
    this.settings = { ...CLIENT_DEFAULTS, ...settings };

    this.rooms = new Map(); // every room: id -> room
    this.joined = new Set(); // rooms the user is a member of
    this.live = new Set(); // rooms joined on the current connection
    this.dms = new Map(); // dm id -> {id, user}
    this.logs = new Map(); // conversation id -> ConversationLog
    this.members = new Map(); // room id -> Set of online member names
    this.online = []; // online usernames
    this.typing = new TypingTracker();
    this.typingThrottle = new TypingThrottle();
    this.active = null;
    this.visible = true;
    this.status = 'connecting';
    this.history = new Map(); // conversation id -> the history request in flight
    this.joinRequests = new Map(); // room id -> {after, user}
    this.pendingJoins = new Set(); // rooms the user asked to join, awaiting `joined`

    this.readRecord = userRecord(persistent, 'chat.read', this.me);
    const read = this.readRecord.load({});
    this.read = read && typeof read === 'object' && !Array.isArray(read) ? read : {};
    this.outboxRecord = userRecord(session, 'chat.outbox', this.me);
    const saved = this.outboxRecord.load([]);
    this.outbox = new Outbox(Array.isArray(saved) ? saved : []);

    this._timers = [];
    this._typingTimer = null;
    this._presenceTimer = null;
    this._initialSync = null;
    this._joinRetryTimer = null;
    this._joinRetries = 0;
    this.stopped = false;
    this.ready = false; // connected, and the rooms have been re-joined
    this.membershipKnown = false;
    this.connection = createConnection({
      onFrame: (frame) => this.handleFrame(frame),
      onOpen: () => this._onOpen(),
      onStatus: (status) => this._onStatus(status),
      onClose: (info) => this._onClose(info),
    });
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  start() {
    this._initialSync = this.syncMembership().catch(() => {});
    this.refreshRooms().catch(() => {});
    this.refreshOnline().catch(() => {});
    this.connection.start();
    const every = (ms, fn) => this._timers.push(this.timers.setInterval(fn, ms));
    every(this.settings.onlineRefreshMs, () => this.refreshOnline().catch(() => {}));
    every(this.settings.roomsRefreshMs, () => this.refreshRooms().catch(() => {}));
    every(this.settings.outboxCheckMs, () => this.flushOutbox());
    return this._initialSync;
  }

  stop() {
    this.stopped = true;
    for (const id of this._timers) this.timers.clearInterval(id);
    this._timers = [];
    this.timers.clearTimeout(this._typingTimer);
    this.timers.clearTimeout(this._presenceTimer);
    this.timers.clearTimeout(this._joinRetryTimer);
    this.connection.stop();
  }

  /** Forgets what this user left on this device (on logout). */
  forgetLocalData() {
    this.outbox = new Outbox();
    this.outboxRecord.clear();
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

  // ---- REST-backed state ---------------------------------------------------------------------

  async syncMembership() {
    const data = await this.api.myRooms();
    const rooms = Array.isArray(data?.rooms) ? data.rooms : [];
    const ids = new Set();
    for (const room of rooms) {
      const id = roomIdOf(room);
      if (!id) continue;
      ids.add(id);
      if (typeof room === 'object') this._upsertRoom(room);
    }
    // Rooms joined on this connection are memberships the REST answer may predate.
    for (const id of this.live) ids.add(id);
    for (const id of this.joined) {
      if (!ids.has(id) && !this.pendingJoins.has(id)) this._forgetRoom(id); // left on another device
    }
    this.joined = ids;
    this.membershipKnown = true;
    for (const dm of Array.isArray(data?.dms) ? data.dms : []) {
      if (!dm || !isDmId(dm.id)) continue;
      const existing = this.dms.get(dm.id);
      this.dms.set(dm.id, { id: dm.id, user: dm.user || existing?.user || dmPeer(dm.id, this.me) });
    }
    this.emit('change', { what: 'rooms' });
    return data;
  }

  async refreshRooms() {
    const data = await this.api.rooms();
    if (!Array.isArray(data?.rooms)) return;
    const seen = new Set();
    for (const room of data.rooms) {
      if (!room || typeof room.id !== 'string') continue;
      seen.add(room.id);
      this._upsertRoom(room);
    }
    for (const id of [...this.rooms.keys()]) if (!seen.has(id) && !this.joined.has(id)) this.rooms.delete(id);
    this.emit('change', { what: 'rooms' });
  }

  async refreshOnline() {
    const data = await this.api.onlineUsers();
    if (!Array.isArray(data?.users)) return;
    this.online = data.users.filter((name) => typeof name === 'string')
      .sort((a, b) => a.localeCompare(b, undefined, { sensitivity: 'base' }));
    this.emit('change', { what: 'online' });
  }

  async createRoom(name, description = '') {
    const data = await this.api.createRoom(name.trim(), description.trim());
    const room = data.room;
    this._upsertRoom(room);
    this.emit('change', { what: 'rooms' });
    this.join(room.id);
    this.open(room.id);
    return room;
  }

  // ---- derived state for the view ----------------------------------------------------------

  /** All rooms, sorted by name. */
  roomList() {
    return [...this.rooms.values()].sort(byName);
  }

  joinedRoomList() {
    return [...this.joined].map((id) => this.rooms.get(id) ?? { id, name: id }).sort(byName);
  }

  dmList() {
    return [...this.dms.values()].sort((a, b) => {
      const newestA = this.logs.get(a.id)?.newestId ?? '';
      const newestB = this.logs.get(b.id)?.newestId ?? '';
      if (newestA !== newestB) return compareIds(newestB, newestA);
      return String(a.user).localeCompare(String(b.user));
    });
  }

  log(conv) {
    return this.logs.get(conv) ?? null;
  }

  isMember(conv) {
    return isDmId(conv) ? dmPeer(conv, this.me) !== null : this.joined.has(conv);
  }

  isJoining(roomId) {
    return this.pendingJoins.has(roomId);
  }

  isLoadingOlder(conv) {
    return this.history.get(conv)?.dir === 'before';
  }

  /** What to show for a conversation: its title and, for a DM, the other user. */
  describe(conv) {
    if (isDmId(conv)) {
      const peer = this.dms.get(conv)?.user ?? dmPeer(conv, this.me) ?? conv;
      return { kind: 'dm', title: peer, peer, description: '' };
    }
    const room = this.rooms.get(conv);
    return { kind: 'room', title: room?.name ?? 'Room', description: room?.description ?? '', room };
  }

  unread(conv) {
    if (conv === this.active && this.visible) return 0;
    const log = this.logs.get(conv);
    if (!log) return 0;
    return unreadCount(log.messages, this.read[conv], this.me);
  }

  typingIn(conv) {
    return this.typing.active(conv, this.now());
  }

  pendingFor(conv) {
    return this.outbox.forConversation(conv);
  }

  // ---- user actions ------------------------------------------------------------------------

  open(conv) {
    this.active = conv || null;
    if (conv) {
      if (isDmId(conv)) {
        const log = this._log(conv);
        if (!log.loaded) this._requestHistory(conv, 'latest');
      }
      this.markRead(conv);
    }
    this.emit('change', { what: 'active', conv });
  }

  startDm(username) {
    if (!username || sameUser(username, this.me)) return null;
    const id = dmId(this.me, username);
    if (!this.dms.has(id)) {
      this.dms.set(id, { id, user: username });
      this.emit('change', { what: 'rooms' });
    }
    this.open(id);
    return id;
  }

  join(roomId) {
    if (this.joined.has(roomId) && this.live.has(roomId)) return true;
    this.pendingJoins.add(roomId);
    this.emit('change', { what: 'membership', conv: roomId });
    if (!this.connection.connected) return false; // joined once connected (see _onOpen)
    return this._sendJoin(roomId);
  }

  leave(roomId) {
    this.pendingJoins.delete(roomId);
    if (!this.connection.connected) {
      this.emit('notice', { kind: 'error', text: 'You are offline: try leaving again once connected.' });
      return false;
    }
    return this.connection.send({ action: 'leave', room: roomId });
  }

  /** Queues a message for the active conversation and sends it if connected. */
  sendMessage(text, conv = this.active) {
    if (!conv) return { error: 'Open a conversation first.' };
    const error = validateMessage(text);
    if (error) return { error };
    if (!this.isMember(conv)) return { error: 'Join the room to send messages.' };
    const to = isDmId(conv) ? (this.dms.get(conv)?.user ?? dmPeer(conv, this.me)) : null;
    const item = this.outbox.add({ clientId: this.uuid(), conv, text: String(text).trim(), to,
      createdAt: this.now() });
    this._saveOutbox();
    this.typingThrottle.reset(conv);
    this.emit('change', { what: 'conv', conv });
    this.flushOutbox();
    return { item };
  }

  retry(clientId) {
    const item = this.outbox.retry(clientId);
    if (item) {
      this._saveOutbox();
      this.emit('change', { what: 'conv', conv: item.conv });
      this.flushOutbox();
    }
  }

  discard(clientId) {
    const item = this.outbox.discard(clientId);
    if (item) {
      this._saveOutbox();
      this.emit('change', { what: 'conv', conv: item.conv });
    }
  }

  /** The user is typing in the active conversation: tell the others, at most every few seconds. */
  notifyTyping(conv = this.active) {
    if (!conv || !this.connection.connected) return false;
    if (!isDmId(conv) && !this.live.has(conv)) return false;
    if (!this.typingThrottle.shouldSend(conv, this.now())) return false;
    return this.connection.send({ action: 'typing', room: conv });
  }

  /** Asks for the page before the oldest message held; false when there is none or one is loading. */
  loadOlder(conv = this.active) {
    const log = this.logs.get(conv);
    if (!log || !log.loaded || log.hasOlder === false || !log.oldestId) return false;
    return this._requestHistory(conv, 'before', log.oldestId);
  }

  markRead(conv) {
    if (!this.visible || conv !== this.active) return;
    const newest = this.logs.get(conv)?.newestId;
    if (!newest || this.read[conv] === newest) return;
    this.read[conv] = newest;
    this.readRecord.save(this.read);
    this.emit('change', { what: 'unread', conv });
  }

  flushOutbox() {
    // `ready`: the rooms have been (re)joined on this connection, see _onOpen.
    if (this.stopped || !this.ready || !this.connection.connected) return;
    let changed = false;
    for (const item of this.outbox.items) {
      // A room the user is not a member of (any more) will refuse the message.
      if (this.membershipKnown && !isDmId(item.conv) && item.state === 'queued' && !this.joined.has(item.conv)
        && !this.pendingJoins.has(item.conv)) {
        this.outbox.fail(item.clientId, 'You are not a member of this room.');
        changed = true;
      }
    }
    const due = this.outbox.due({ now: this.now(), resendAfterMs: this.settings.resendAfterMs,
      canSend: (conv) => isDmId(conv) || this.live.has(conv) });
    for (const item of due) {
      if (!this.connection.send(frameFor(item))) break;
      this.outbox.markSent(item.clientId, this.now());
      changed = true;
      this.emit('change', { what: 'conv', conv: item.conv });
    }
    if (changed) this._saveOutbox();
  }

  // ---- connection events -------------------------------------------------------------------

  async _onOpen() {
    const opens = this.connection.opens;
    this.live.clear();
    this.history.clear();
    this.joinRequests.clear();
    this.outbox.requeueSent();
    this._joinRetries = 0;
    if (opens === 1 && this._initialSync) {
      await this._initialSync;
    } else {
      // Memberships may have changed on another device while this one was away.
      await this.syncMembership().catch(() => {});
    }
    if (!this.connection.connected || this.connection.opens !== opens) return;
    for (const id of this.joined) this._sendJoin(id);
    for (const id of this.pendingJoins) if (!this.joined.has(id)) this._sendJoin(id);
    for (const id of this.dms.keys()) this._catchUpDm(id);
    this.ready = true;
    this.flushOutbox();
    this.refreshOnline().catch(() => {});
    this.emit('change', { what: 'rooms' });
  }

  _onStatus(status) {
    this.status = status;
    if (status !== 'connected') {
      this.ready = false;
      this.live.clear();
      this.members.clear();
    }
    this.emit('change', { what: 'status' });
  }

  _onClose(info) {
    // A handshake refused twice in a row may mean the token expired: check it over REST,
    // whose 401 signs the user out (the browser hides why a WebSocket handshake failed).
    if (!info.opened && info.failures >= 2 && info.failures % 2 === 0) this.api.me().catch(() => {});
  }

  handleFrame(frame) {
    switch (frame.type) {
      case 'joined': return this._onJoined(frame);
      case 'left': return this._onLeft(frame);
      case 'message': return this._onMessage(frame);
      case 'history': return this._onHistory(frame);
      case 'presence': return this._onPresence(frame);
      case 'typing': return this._onTyping(frame);
      case 'error': return this._onError(frame);
      default: return undefined; // newer server frame types are ignored
    }
  }

  _onJoined(frame) {
    const id = roomIdOf(frame.room);
    if (!id) return;
    if (typeof frame.room === 'object') this._upsertRoom(frame.room);
    const request = this.joinRequests.get(id);
    this.joinRequests.delete(id);
    this.pendingJoins.delete(id);
    this.joined.add(id);
    this.live.add(id);
    this.members.set(id, new Set(Array.isArray(frame.members) ? frame.members : []));
    const log = this._log(id);
    const messages = Array.isArray(frame.messages) ? frame.messages : [];
    if (request?.after && log.loaded) {
      // A rejoin: these are the messages missed since `after`, oldest first.
      log.add(messages);
      if (frame.more) this._requestHistory(id, 'after', log.newestId, 1);
    } else {
      const hadMessages = log.messages.length > 0;
      log.add(messages);
      log.hasOlder = Boolean(frame.more);
      log.loaded = true;
      this._initRead(id, hadMessages);
    }
    this._afterMessages(id);
    this.flushOutbox();
    this.emit('change', { what: 'rooms' });
    this.emit('change', { what: 'conv', conv: id });
  }

  _onLeft(frame) {
    const id = roomIdOf(frame.room);
    if (!id) return;
    this._forgetRoom(id);
    this.emit('change', { what: 'rooms' });
    this.emit('change', { what: 'conv', conv: id });
  }

  _onMessage(frame) {
    const message = frame.message;
    if (!message || typeof message.room !== 'string' || typeof message.id !== 'string') return;
    const conv = message.room;
    if (isDmId(conv)) {
      if (!this.dms.has(conv)) {
        const mine = sameUser(message.sender, this.me);
        const user = mine ? (this.outbox.get(message.client_id)?.to ?? dmPeer(conv, this.me)) : message.sender;
        this.dms.set(conv, { id: conv, user });
        if (this.read[conv] === undefined) this.read[conv] = ''; // a new conversation: all unread
        this.emit('change', { what: 'rooms' });
      }
    }
    const log = this._log(conv);
    log.add([message]);
    if (message.client_id && sameUser(message.sender, this.me) && this.outbox.confirm(message.client_id)) {
      this._saveOutbox();
    }
    if (this.typing.clear(conv, message.sender)) this.emit('change', { what: 'typing', conv });
    this._afterMessages(conv);
    this.emit('change', { what: 'conv', conv });
  }

  _onHistory(frame) {
    const conv = typeof frame.room === 'string' ? frame.room : null;
    if (!conv) return;
    const request = this.history.get(conv);
    this.history.delete(conv);
    const log = this._log(conv);
    const messages = Array.isArray(frame.messages) ? frame.messages : [];
    const dir = request?.dir ?? 'latest';
    const hadMessages = log.messages.length > 0;
    log.add(messages);
    if (dir === 'before') {
      log.hasOlder = Boolean(frame.more);
    } else if (dir === 'after') {
      if (frame.more) {
        const pages = (request.pages ?? 0) + 1;
        if (pages <= this.settings.maxCatchUpPages) {
          this._requestHistory(conv, 'after', log.newestId, pages);
        } else {
          // Too far behind to page through: start again from the latest page.
          log.clear();
          this._requestHistory(conv, 'latest');
        }
      }
    } else {
      log.hasOlder = Boolean(frame.more);
      if (!log.loaded) {
        log.loaded = true;
        this._initRead(conv, hadMessages);
      }
    }
    this._afterMessages(conv);
    this.emit('change', { what: 'conv', conv });
  }

  _onPresence(frame) {
    const room = roomIdOf(frame.room);
    if (!room || typeof frame.user !== 'string') return;
    if (!this.members.has(room)) this.members.set(room, new Set());
    const members = this.members.get(room);
    if (frame.status === 'joined') {
      members.add(frame.user);
      if (!this.online.some((name) => sameUser(name, frame.user))) {
        // Present in a room means online; the next refresh confirms it.
        this.online = [...this.online, frame.user]
          .sort((a, b) => a.localeCompare(b, undefined, { sensitivity: 'base' }));
        this.emit('change', { what: 'online' });
      }
    }
    else if (frame.status === 'left') {
      for (const name of [...members]) if (sameUser(name, frame.user)) members.delete(name);
      this.typing.clear(room, frame.user);
    }
    this.emit('change', { what: 'members', conv: room });
    this._refreshOnlineSoon();
  }

  _onTyping(frame) {
    const conv = roomIdOf(frame.room);
    if (!conv || typeof frame.user !== 'string' || sameUser(frame.user, this.me)) return;
    this.typing.seen(conv, frame.user, this.now());
    this._scheduleTypingTick();
    this.emit('change', { what: 'typing', conv });
  }

  _onError(frame) {
    const { code, message, action } = frame;
    const clientId = frame.client_id;
    if (code === 'unauthorized') {
      this.emit('unauthorized', { message });
      return;
    }
    if (clientId && this.outbox.has(clientId)) {
      const item = this.outbox.fail(clientId, message || 'The server refused this message.');
      this._saveOutbox();
      this.emit('change', { what: 'conv', conv: item.conv });
      return;
    }
    // Error frames do not say which conversation they are about: free what may be waiting.
    if (action === 'history') {
      this.history.clear();
      this.emit('change', { what: 'conv', conv: this.active });
    }
    if (action === 'join') {
      const waiting = [...this.joinRequests.keys()].filter((id) => !this.joined.has(id));
      for (const id of waiting) {
        this.joinRequests.delete(id);
        this.pendingJoins.delete(id);
      }
      // A re-join of a room the user belongs to failed (e.g. the service was busy): try again
      // a few times, or its messages would neither arrive nor be sent on this connection.
      if (code === 'unavailable' || code === 'rate_limited') {
        // Which join failed is unknown: those still unanswered are sent again (joins are idempotent).
        for (const id of [...this.joinRequests.keys()]) if (!this.live.has(id)) this.joinRequests.delete(id);
        this._retryJoinsSoon();
      }
      this.emit('change', { what: 'rooms' });
    }
    if (action === 'typing' || action === 'ping') return;
    const what = { join: 'join the room', leave: 'leave the room', history: 'load messages',
      send: 'send the message', dm: 'send the message' }[action] ?? 'do that';
    this.emit('notice', { kind: 'error', text: `Could not ${what}: ${message || code || 'error'}` });
  }

  // ---- helpers -----------------------------------------------------------------------------

  _log(conv) {
    if (!this.logs.has(conv)) this.logs.set(conv, new ConversationLog(conv));
    return this.logs.get(conv);
  }

  _upsertRoom(room) {
    if (!room || typeof room.id !== 'string') return;
    this.rooms.set(room.id, { ...(this.rooms.get(room.id) ?? {}), ...room });
  }

  _forgetRoom(id) {
    this.joined.delete(id);
    this.live.delete(id);
    this.pendingJoins.delete(id);
    this.members.delete(id);
    this.history.delete(id);
    this.logs.get(id)?.clear();
    let failed = false;
    for (const item of this.outbox.forConversation(id)) {
      if (item.state !== 'failed') {
        this.outbox.fail(item.clientId, 'You left this room.');
        failed = true;
      }
    }
    if (failed) this._saveOutbox();
  }

  _sendJoin(id) {
    const log = this.logs.get(id);
    const after = log?.loaded ? log.newestId : null;
    const frame = { action: 'join', room: id };
    if (after) frame.after = after;
    if (!this.connection.send(frame)) return false;
    this.joinRequests.set(id, { after });
    return true;
  }

  _retryJoinsSoon() {
    if (this._joinRetryTimer !== null || this._joinRetries >= this.settings.maxJoinRetries) return;
    this._joinRetries += 1;
    const opens = this.connection.opens;
    this._joinRetryTimer = this.timers.setTimeout(() => {
      this._joinRetryTimer = null;
      if (!this.connection.connected || this.connection.opens !== opens) return;
      for (const id of this.joined) if (!this.live.has(id) && !this.joinRequests.has(id)) this._sendJoin(id);
    }, this.settings.joinRetryDelayMs * this._joinRetries);
  }

  _catchUpDm(id) {
    const log = this.logs.get(id);
    if (log?.loaded && log.newestId) this._requestHistory(id, 'after', log.newestId);
    else this._requestHistory(id, 'latest');
  }

  _requestHistory(conv, dir, cursor = null, pages = 0) {
    const inFlight = this.history.get(conv);
    if (inFlight && this.now() - inFlight.at < this.settings.historyTimeoutMs) return false;
    const frame = { action: 'history', room: conv };
    if (dir === 'before') frame.before = cursor;
    if (dir === 'after') frame.after = cursor;
    if (!this.connection.send(frame)) return false;
    this.history.set(conv, { dir, at: this.now(), pages });
    if (dir === 'before') this.emit('change', { what: 'conv', conv });
    return true;
  }

  /** First load of a conversation with no read marker: its backlog counts as read. */
  _initRead(conv, hadMessages) {
    if (this.read[conv] !== undefined) return;
    if (hadMessages) {
      this.read[conv] = '';
    } else {
      const newest = this.logs.get(conv)?.newestId;
      if (newest) this.read[conv] = newest;
    }
    this.readRecord.save(this.read);
  }

  _afterMessages(conv) {
    if (conv === this.active) this.markRead(conv);
    this.emit('change', { what: 'unread', conv });
  }

  _saveOutbox() {
    this.outboxRecord.save(this.outbox.toJSON());
  }

  _scheduleTypingTick() {
    this.timers.clearTimeout(this._typingTimer);
    const next = this.typing.nextExpiry(this.now());
    if (next === null) return;
    this._typingTimer = this.timers.setTimeout(() => {
      this._typingTimer = null;
      this.emit('change', { what: 'typing', conv: null });
      this._scheduleTypingTick();
    }, Math.max(50, next - this.now() + 20));
  }

  _refreshOnlineSoon() {
    if (this._presenceTimer !== null) return;
    this._presenceTimer = this.timers.setTimeout(() => {
      this._presenceTimer = null;
      this.refreshOnline().catch(() => {});
    }, this.settings.presenceRefreshDelayMs);
  }
}
