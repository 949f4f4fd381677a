// Read markers: the newest message read in each conversation, kept per user in localStorage so
// that unread counts survive reloads and new tabs, and the counts they give. No DOM access.

import { unreadCount } from '../messages.js';
import { userRecord } from '../storage.js';

export class ReadMarkers {
  constructor({ storage, me }) {
    this.me = me;
    this.record = userRecord(storage, 'chat.read', me);
    const saved = this.record.load({});
    this.markers = saved && typeof saved === 'object' && !Array.isArray(saved) ? saved : {};
  }

  /** Messages from others after the marker (all of them when the marker is ''). */
  unread(conv, messages) {
    return unreadCount(messages, this.markers[conv], this.me);
  }

  /** Moves the marker to `newestId`; false when there was nothing new to mark. */
  markRead(conv, newestId) {
    if (!newestId || this.markers[conv] === newestId) return false;
    this.markers[conv] = newestId;
    this.record.save(this.markers);
    return true;
  }

  /**
   * The first page of a conversation with no marker on this device: its backlog counts as read,
   * unless messages had arrived live before the page did (those are new to the user).
   */
  firstLoad(conv, hadMessages, newestId) {
    if (this.markers[conv] !== undefined) return;
    if (hadMessages) this.markers[conv] = '';
    else if (newestId) this.markers[conv] = newestId;
    this.record.save(this.markers);
  }

  /** A DM that someone started while this device was not looking: all of it is unread. */
  startUnread(conv) {
    if (this.markers[conv] === undefined) this.markers[conv] = '';
  }
}
