// Small wrappers over Web Storage (passed in, so Node tests can use a Map-backed fake).
//
// The session (token and user) lives in sessionStorage: see docs/web-client.md for why.
// Read markers live in localStorage (they are not secrets and are nicer kept across tabs).
// Unsent messages live in sessionStorage next to the token that may send them.

const SESSION_KEY = 'chat.session';

function readJson(storage, key, fallback) {
  try {
    const raw = storage?.getItem(key);
    return raw ? JSON.parse(raw) : fallback;
  } catch {
    return fallback;
  }
}

function writeJson(storage, key, value) {
  try {
    storage?.setItem(key, JSON.stringify(value));
  } catch {
    // Storage full or disabled: the app keeps working, it just forgets on reload.
  }
}

export function loadSession(storage) {
  const session = readJson(storage, SESSION_KEY, null);
  if (!session || typeof session.token !== 'string' || !session.user
    || typeof session.user.username !== 'string') return null;
  return session;
}

export function saveSession(storage, token, user) {
  writeJson(storage, SESSION_KEY, { token, user });
}

export function clearSession(storage) {
  try {
    storage?.removeItem(SESSION_KEY);
  } catch {
    // ignore
  }
}

/** A JSON value kept under one key, per user. */
export function userRecord(storage, prefix, username) {
  const key = `${prefix}.${String(username).toLowerCase()}`;
  return {
    load: (fallback) => readJson(storage, key, fallback),
    save: (value) => writeJson(storage, key, value),
    clear: () => {
      try {
        storage?.removeItem(key);
      } catch {
        // ignore
      }
    },
  };
}

/** A Map-backed stand-in for Storage (tests, or when the browser refuses storage). */
export class MemoryStorage {
  constructor() {
    this.map = new Map();
  }

  getItem(key) {
    return this.map.has(key) ? this.map.get(key) : null;
  }

  setItem(key, value) {
    this.map.set(key, String(value));
  }

  removeItem(key) {
    this.map.delete(key);
  }
}
