// Which conversations the user is in: the catalogue of rooms, the rooms joined, the joins in
// flight and the direct-message conversations. Builds the `join` and `leave` frames. No DOM access.
//
// A room is `joined` once the server says the user is a member (GET /me/rooms or a `joined`
// frame) and `live` once it has been joined on the current connection: the server takes a
// room's messages, and sends its frames, only on connections that joined it.

import { compareIds } from '../messages.js';
import { compareNames, dmId, dmPeer, isDmId, roomIdOf, sameUser } from '../conversations.js';

export class Memberships {
  /**
   * @param {object} options
   * @param {(roomId: string) => string|null} options.cursorFor the newest message id held for a
   *   room, sent as the join's `after` so that the server answers with what was missed
   */
  constructor({ me, connection, emit, timers, cursorFor, retryDelayMs, maxRetries }) {
    Object.assign(this, { me, connection, emit, timers, cursorFor, retryDelayMs, maxRetries });
    this.rooms = new Map(); // every room the user can see: id -> room
    this.joined = new Set();
    this.live = new Set();
    this.pending = new Set(); // rooms the user asked to join, awaiting `joined`
    this.requests = new Map(); // room id -> {after}: joins sent on this connection, unanswered
    this.dms = new Map(); // dm id -> {id, user}
    this.known = false; // GET /me/rooms has answered at least once
    this._retryTimer = null;
    this._retries = 0;
  }

  stop() {
    this.timers.clearTimeout(this._retryTimer);
    this._retryTimer = null;
  }

  // ---- REST answers ------------------------------------------------------------------------

  /** Applies GET /me/rooms; returns the rooms the user left on another device. */
  applyMine(data) {
    const ids = new Set();
    for (const room of Array.isArray(data?.rooms) ? data.rooms : []) {
      const id = roomIdOf(room);
      if (!id) continue;
      ids.add(id);
      if (typeof room === 'object') this.upsertRoom(room);
    }
    // Rooms joined on this connection are memberships the REST answer may predate.
    for (const id of this.live) ids.add(id);
    const left = [...this.joined].filter((id) => !ids.has(id) && !this.pending.has(id));
    this.joined = ids;
    this.known = true;
    for (const dm of Array.isArray(data?.dms) ? data.dms : []) {
      if (!dm || !isDmId(dm.id)) continue;
      const existing = this.dms.get(dm.id);
      this.dms.set(dm.id, { id: dm.id, user: dm.user || existing?.user || dmPeer(dm.id, this.me) });
    }
    this.emit('rooms');
    return left;
  }

  /** Applies GET /chatrooms: rooms nobody can see any more go, unless the user is in them. */
  applyCatalogue(data) {
    if (!Array.isArray(data?.rooms)) return;
    const seen = new Set();
    for (const room of data.rooms) {
      if (!room || typeof room.id !== 'string') continue;
      seen.add(room.id);
      this.upsertRoom(room);
    }
    for (const id of [...this.rooms.keys()]) if (!seen.has(id) && !this.joined.has(id)) this.rooms.delete(id);
    this.emit('rooms');
  }

  upsertRoom(room) {
    if (!room || typeof room.id !== 'string') return;
    this.rooms.set(room.id, { ...(this.rooms.get(room.id) ?? {}), ...room });
  }

  addRoom(room) {
    this.upsertRoom(room);
    this.emit('rooms');
  }

  // ---- joining and leaving -----------------------------------------------------------------

  /** Asks to join; while offline the room waits in `pending` and is joined once connected. */
  join(roomId) {
    if (this.joined.has(roomId) && this.live.has(roomId)) return true;
    this.pending.add(roomId);
    this.emit('rooms');
    if (!this.connection.connected) return false;
    return this._sendJoin(roomId);
  }

  leave(roomId) {
    this.pending.delete(roomId);
    if (!this.connection.connected) {
      this.emit('notice', { kind: 'error', text: 'You are offline: try leaving again once connected.' });
      return false;
    }
    return this.connection.send({ action: 'leave', room: roomId });
  }

  /** After a (re)connection: join every room again, and those the user asked for meanwhile. */
  rejoinAll() {
    for (const id of this.joined) this._sendJoin(id);
    for (const id of this.pending) if (!this.joined.has(id)) this._sendJoin(id);
  }

  connectionOpened() {
    this.live.clear();
    this.requests.clear();
    this._retries = 0;
  }

  connectionLost() {
    this.live.clear();
  }

  /** A `joined` frame: returns the room and the `after` its join asked with, or null. */
  onJoined(frame) {
    const id = roomIdOf(frame.room);
    if (!id) return null;
    if (typeof frame.room === 'object') this.upsertRoom(frame.room);
    const request = this.requests.get(id);
    this.requests.delete(id);
    this.pending.delete(id);
    this.joined.add(id);
    this.live.add(id);
    this.emit('rooms');
    return { id, after: request?.after ?? null };
  }

  forget(id) {
    this.joined.delete(id);
    this.live.delete(id);
    this.pending.delete(id);
    this.emit('rooms');
  }

  /** An error frame for a `join`. Error frames do not say which room: free all that wait. */
  onJoinError(code) {
    const waiting = [...this.requests.keys()].filter((id) => !this.joined.has(id));
    for (const id of waiting) {
      this.requests.delete(id);
      this.pending.delete(id);
    }
    // A re-join of a room the user belongs to failed (e.g. the service was busy): try again
    // a few times, or its messages would neither arrive nor be sent on this connection.
    if (code === 'unavailable' || code === 'rate_limited') {
      // Which join failed is unknown: those still unanswered are sent again (joins are idempotent).
      for (const id of [...this.requests.keys()]) if (!this.live.has(id)) this.requests.delete(id);
      this._retrySoon();
    }
    this.emit('rooms');
  }

  _sendJoin(id) {
    const after = this.cursorFor(id);
    const frame = { action: 'join', room: id };
    if (after) frame.after = after;
    if (!this.connection.send(frame)) return false;
    this.requests.set(id, { after });
    return true;
  }

  _retrySoon() {
    if (this._retryTimer !== null || this._retries >= this.maxRetries) return;
    this._retries += 1;
    const opens = this.connection.opens;
    this._retryTimer = this.timers.setTimeout(() => {
      this._retryTimer = null;
      if (!this.connection.connected || this.connection.opens !== opens) return;
      for (const id of this.joined) if (!this.live.has(id) && !this.requests.has(id)) this._sendJoin(id);
    }, this.retryDelayMs * this._retries);
  }

  // ---- direct messages ---------------------------------------------------------------------

  /** The DM conversation with `username`, added if new; null for oneself. */
  startDm(username) {
    if (!username || sameUser(username, this.me)) return null;
    const id = dmId(this.me, username);
    this.addDm(id, username);
    return id;
  }

  addDm(id, user) {
    if (this.dms.has(id)) return;
    this.dms.set(id, { id, user });
    this.emit('rooms');
  }

  /** The other user of a DM, as the server spelled the name when it could. */
  dmUser(conv) {
    return this.dms.get(conv)?.user ?? dmPeer(conv, this.me);
  }

  // ---- what may be sent where --------------------------------------------------------------

  isMember(conv) {
    return isDmId(conv) ? dmPeer(conv, this.me) !== null : this.joined.has(conv);
  }

  isJoining(roomId) {
    return this.pending.has(roomId);
  }

  /** Whether a conversation takes messages (and typing) on this connection now. */
  canSendNow(conv) {
    return isDmId(conv) || this.live.has(conv);
  }

  /** Why a queued message for `conv` will be refused, or null: rooms the user is not in. */
  refusal(conv) {
    if (!this.known || isDmId(conv) || this.joined.has(conv) || this.pending.has(conv)) return null;
    return 'You are not a member of this room.';
  }

  // ---- for the sidebar ---------------------------------------------------------------------

  /** All rooms, sorted by name. */
  roomList() {
    return [...this.rooms.values()].sort((a, b) => compareNames(a.name, b.name));
  }

  joinedRoomList() {
    return [...this.joined].map((id) => this.rooms.get(id) ?? { id, name: id })
      .sort((a, b) => compareNames(a.name, b.name));
  }

  /** DMs, the one with the newest message first (`newestIdOf` gives a conversation's). */
  dmList(newestIdOf) {
    return [...this.dms.values()].sort((a, b) => {
      const newestA = newestIdOf(a.id) ?? '';
      const newestB = newestIdOf(b.id) ?? '';
      if (newestA !== newestB) return compareIds(newestB, newestA);
      return String(a.user).localeCompare(String(b.user));
    });
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
}
