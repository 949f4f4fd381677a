// "X is typing…": who is typing where, and how often to tell the server. No DOM access.

export const TYPING_TTL_MS = 6_000;
export const TYPING_SEND_INTERVAL_MS = 3_000;

/** Remembers who was seen typing in which conversation, for `ttlMs` after each typing frame. */
export class TypingTracker {
  constructor(ttlMs = TYPING_TTL_MS) {
    this.ttlMs = ttlMs;
    this.byConv = new Map(); // conv -> Map(user -> expiresAt)
  }

  seen(conv, user, now = Date.now()) {
    if (!this.byConv.has(conv)) this.byConv.set(conv, new Map());
    this.byConv.get(conv).set(user, now + this.ttlMs);
  }

  /** The user sent a message (or left): they are not typing any more. */
  clear(conv, user) {
    const users = this.byConv.get(conv);
    if (!users) return false;
    const lower = String(user).toLowerCase();
    let removed = false;
    for (const name of [...users.keys()]) {
      if (name.toLowerCase() === lower) removed = users.delete(name) || removed;
    }
    return removed;
  }

  /** Names typing in `conv` now, in a stable (alphabetical) order. */
  active(conv, now = Date.now()) {
    const users = this.byConv.get(conv);
    if (!users) return [];
    const names = [];
    for (const [name, expiresAt] of users) {
      if (expiresAt > now) names.push(name);
      else users.delete(name);
    }
    return names.sort((a, b) => a.localeCompare(b));
  }

  /** When the next entry expires (for a timer), or null when nobody is typing anywhere. */
  nextExpiry(now = Date.now()) {
    let next = null;
    for (const users of this.byConv.values()) {
      for (const expiresAt of users.values()) {
        if (expiresAt > now && (next === null || expiresAt < next)) next = expiresAt;
      }
    }
    return next;
  }
}

export function typingText(names) {
  if (!names || names.length === 0) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  if (names.length === 3) return `${names[0]}, ${names[1]} and ${names[2]} are typing…`;
  return 'Several people are typing…';
}

/** At most one `typing` frame per conversation every `intervalMs`. */
export class TypingThrottle {
  constructor(intervalMs = TYPING_SEND_INTERVAL_MS) {
    this.intervalMs = intervalMs;
    this.lastSent = new Map();
  }

  shouldSend(conv, now = Date.now()) {
    const last = this.lastSent.get(conv);
    if (last !== undefined && now - last < this.intervalMs) return false;
    this.lastSent.set(conv, now);
    return true;
  }

  /** After sending a message the next keystroke may announce typing again at once. */
  reset(conv) {
    this.lastSent.delete(conv);
  }
}
