// One conversation's messages: merged, deduplicated by id and kept in id order. No DOM access.
//
// Message ids are ULIDs (26 Crockford base32 characters), which sort in time order as plain
// strings, so ordering never depends on clocks or on the order frames arrived in.

export function compareIds(a, b) {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

function isMessage(value) {
  return value && typeof value === 'object' && typeof value.id === 'string' && value.id !== '';
}

/**
 * Merges `incoming` (in any order, possibly with duplicates or ids already present) into `list`
 * (sorted by id, no duplicates). Returns `{list, added}`: a new sorted array and the messages
 * that were not there before, in id order. A message whose id is already present is kept as
 * it was (the server never edits a stored message).
 */
export function mergeMessages(list, incoming) {
  const known = new Set(list.map((m) => m.id));
  const added = [];
  for (const message of incoming ?? []) {
    if (!isMessage(message) || known.has(message.id)) continue;
    known.add(message.id);
    added.push(message);
  }
  if (added.length === 0) return { list, added };
  added.sort((a, b) => compareIds(a.id, b.id));
  // Common cases first: everything new is newer (live) or older (history) than what we had.
  if (list.length === 0 || compareIds(added[0].id, list[list.length - 1].id) > 0) {
    return { list: list.concat(added), added };
  }
  if (compareIds(added[added.length - 1].id, list[0].id) < 0) {
    return { list: added.concat(list), added };
  }
  return { list: list.concat(added).sort((a, b) => compareIds(a.id, b.id)), added };
}

/** Messages from others newer than `lastReadId` (all of them when there is no marker). */
export function unreadCount(messages, lastReadId, me) {
  const self = String(me ?? '').toLowerCase();
  let count = 0;
  for (let i = messages.length - 1; i >= 0; i -= 1) {
    const message = messages[i];
    if (lastReadId && compareIds(message.id, lastReadId) <= 0) break;
    if (String(message.sender ?? '').toLowerCase() !== self) count += 1;
  }
  return count;
}

/** The state of one conversation as the client knows it. */
export class ConversationLog {
  constructor() {
    this.messages = [];
    /** Whether the server has older messages than the oldest we hold (null: not known yet). */
    this.hasOlder = null;
    /** True once the latest page has been loaded (by `joined` or a `history` request). */
    this.loaded = false;
  }

  /** Adds messages; returns the ones that were new, in id order. */
  add(messages) {
    const { list, added } = mergeMessages(this.messages, messages);
    this.messages = list;
    return added;
  }

  get newestId() {
    return this.messages.length ? this.messages[this.messages.length - 1].id : null;
  }

  get oldestId() {
    return this.messages.length ? this.messages[0].id : null;
  }

  clear() {
    this.messages = [];
    this.hasOlder = null;
    this.loaded = false;
  }
}
