// Conversation ids and user names: rooms have server-made ids, direct messages are `dm:<a>:<b>`;
// usernames are unique regardless of case. No DOM access.

export const DM_PREFIX = 'dm:';

/** The id of the direct-message conversation between two users: lowercased names, sorted. */
export function dmId(a, b) {
  const names = [String(a).toLowerCase(), String(b).toLowerCase()].sort();
  return `${DM_PREFIX}${names[0]}:${names[1]}`;
}

export function isDmId(id) {
  return typeof id === 'string' && id.startsWith(DM_PREFIX) && id.split(':').length === 3;
}

/** The other participant of a DM conversation (lowercased, as in the id), or null. */
export function dmPeer(id, me) {
  if (!isDmId(id)) return null;
  const [, a, b] = id.split(':');
  const self = String(me).toLowerCase();
  if (a === self) return b;
  if (b === self) return a;
  return null;
}

export function sameUser(a, b) {
  return typeof a === 'string' && typeof b === 'string' && a.toLowerCase() === b.toLowerCase();
}

/** Names (users, rooms) in the order people expect, ignoring case and accents. */
export function compareNames(a, b) {
  return String(a).localeCompare(String(b), undefined, { sensitivity: 'base' });
}

/** The room a server frame names: frames carry either its id or the room object. */
export function roomIdOf(value) {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof value.id === 'string') return value.id;
  return null;
}
