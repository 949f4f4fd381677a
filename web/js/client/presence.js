// Who is around: the users online, the online members of each room (from `joined` and `presence`
// frames) and who is typing where. Builds the `typing` frame. No DOM access.
//
// "X is typing…" lasts a few seconds after X's last typing frame (typing.js), ends when X's
// message arrives or X leaves; ours are sent at most every few seconds per conversation.

import { TypingThrottle, TypingTracker } from '../typing.js';
import { compareNames, roomIdOf, sameUser } from '../conversations.js';

export class Presence {
  constructor({ api, me, connection, emit, now, timers, refreshDelayMs }) {
    Object.assign(this, { api, me, connection, emit, now, timers, refreshDelayMs });
    this.online = []; // usernames, sorted
    this.members = new Map(); // room id -> Set of online member names
    this.typing = new TypingTracker();
    this.throttle = new TypingThrottle();
    this._typingTimer = null;
    this._refreshTimer = null;
  }

  stop() {
    this.timers.clearTimeout(this._typingTimer);
    this.timers.clearTimeout(this._refreshTimer);
    this._typingTimer = null;
    this._refreshTimer = null;
  }

  async refreshOnline() {
    const data = await this.api.onlineUsers();
    if (!Array.isArray(data?.users)) return;
    this.online = data.users.filter((name) => typeof name === 'string').sort(compareNames);
    this.emit('online');
  }

  isOnline(name) {
    return this.online.some((other) => sameUser(other, name));
  }

  membersOf(room) {
    return [...(this.members.get(room) ?? [])].sort(compareNames);
  }

  setMembers(room, names) {
    this.members.set(room, new Set(Array.isArray(names) ? names : []));
    this.emit('members', room);
  }

  forgetRoom(room) {
    this.members.delete(room);
    this.emit('members', room);
  }

  /** Member lists are per connection: the next `joined` frames bring them again. */
  connectionLost() {
    this.members.clear();
    this.emit('members', null);
  }

  onPresence(frame) {
    const room = roomIdOf(frame.room);
    if (!room || typeof frame.user !== 'string') return;
    if (!this.members.has(room)) this.members.set(room, new Set());
    const members = this.members.get(room);
    if (frame.status === 'joined') {
      members.add(frame.user);
      if (!this.isOnline(frame.user)) {
        // Present in a room means online; the next refresh confirms it.
        this.online = [...this.online, frame.user].sort(compareNames);
        this.emit('online');
      }
    } else if (frame.status === 'left') {
      for (const name of [...members]) if (sameUser(name, frame.user)) members.delete(name);
      this.typing.clear(room, frame.user);
    }
    this.emit('members', room);
    this._refreshOnlineSoon();
  }

  onTyping(frame) {
    const conv = roomIdOf(frame.room);
    if (!conv || typeof frame.user !== 'string' || sameUser(frame.user, this.me)) return;
    this.typing.seen(conv, frame.user, this.now());
    this._scheduleTypingTick();
    this.emit('typing', conv);
  }

  /** `user`'s message arrived: they are not typing any more. */
  messageFrom(conv, user) {
    if (this.typing.clear(conv, user)) this.emit('typing', conv);
  }

  typingIn(conv) {
    return this.typing.active(conv, this.now());
  }

  /** Tells the others we are typing in `conv`, unless we did a moment ago. */
  notifyTyping(conv) {
    if (!this.throttle.shouldSend(conv, this.now())) return false;
    return this.connection.send({ action: 'typing', room: conv });
  }

  /** After sending a message the next keystroke may announce typing again at once. */
  sentMessage(conv) {
    this.throttle.reset(conv);
  }

  _scheduleTypingTick() {
    this.timers.clearTimeout(this._typingTimer);
    const next = this.typing.nextExpiry(this.now());
    if (next === null) return;
    this._typingTimer = this.timers.setTimeout(() => {
      this._typingTimer = null;
      this.emit('typing', null);
      this._scheduleTypingTick();
    }, Math.max(50, next - this.now() + 20));
  }

  _refreshOnlineSoon() {
    if (this._refreshTimer !== null) return;
    this._refreshTimer = this.timers.setTimeout(() => {
      this._refreshTimer = null;
      this.refreshOnline().catch(() => {});
    }, this.refreshDelayMs);
  }
}
