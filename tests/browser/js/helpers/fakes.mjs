// Test doubles for the DOM-free modules: timers with a manual clock, a WebSocket, a REST API.

export class FakeClock {
  constructor(start = 1_000_000) {
    this.time = start;
    this.nextId = 1;
    this.tasks = new Map(); // id -> {at, fn, every}
    this.timers = {
      setTimeout: (fn, ms) => this._add(fn, ms, null),
      clearTimeout: (id) => this.tasks.delete(id),
      setInterval: (fn, ms) => this._add(fn, ms, ms),
      clearInterval: (id) => this.tasks.delete(id),
    };
    this.now = () => this.time;
  }

  _add(fn, ms, every) {
    const id = this.nextId++;
    this.tasks.set(id, { at: this.time + Math.max(0, ms ?? 0), fn, every });
    return id;
  }

  /** Runs everything due within `ms`, in time order, advancing the clock as it goes. */
  advance(ms) {
    const end = this.time + ms;
    for (;;) {
      let nextId = null;
      let next = null;
      for (const [id, task] of this.tasks) {
        if (task.at <= end && (next === null || task.at < next.at)) {
          next = task;
          nextId = id;
        }
      }
      if (next === null) break;
      this.time = Math.max(this.time, next.at);
      if (next.every) next.at += next.every;
      else this.tasks.delete(nextId);
      next.fn();
    }
    this.time = end;
  }

  pending() {
    return [...this.tasks.values()].map((task) => task.at - this.time).sort((a, b) => a - b);
  }
}

export class FakeWebSocket {
  static instances = [];

  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.closedWith = null;
    FakeWebSocket.instances.push(this);
  }

  static reset() {
    FakeWebSocket.instances = [];
  }

  static last() {
    return FakeWebSocket.instances[FakeWebSocket.instances.length - 1];
  }

  send(data) {
    if (this.readyState !== 1) throw new Error('not open');
    this.sent.push(JSON.parse(data));
  }

  close(code = 1000) {
    if (this.readyState === 3) return;
    this.closedWith = code;
    this.readyState = 3;
    this.onclose?.({ code });
  }

  // What the server/network does:
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }

  receive(frame) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }

  drop(code = 1006) {
    this.readyState = 3;
    this.onclose?.({ code });
  }

  refuse() {
    this.readyState = 3;
    this.onclose?.({ code: 1006 });
  }

  frames(action) {
    return this.sent.filter((frame) => !action || frame.action === action);
  }
}

/** A REST API double whose answers tests set, recording calls. */
export function fakeApi(overrides = {}) {
  const calls = [];
  const api = {
    calls,
    myRoomsData: { rooms: [], dms: [] },
    roomsData: { rooms: [] },
    online: { users: [] },
    myRooms: async () => { calls.push('myRooms'); return structuredClone(api.myRoomsData); },
    rooms: async () => { calls.push('rooms'); return structuredClone(api.roomsData); },
    onlineUsers: async () => { calls.push('onlineUsers'); return structuredClone(api.online); },
    me: async () => { calls.push('me'); return { user: { username: 'alice' } }; },
    createRoom: async (name, description) => {
      calls.push(['createRoom', name, description]);
      return { room: { id: 'r-new', name, description } };
    },
    ...overrides,
  };
  return api;
}

/** Lets pending promise callbacks run. */
export async function settle() {
  for (let i = 0; i < 10; i += 1) await Promise.resolve();
  await new Promise((resolve) => setImmediate(resolve));
}

export function ulid(n) {
  // 26 chars, sorting by n.
  return `01J${String(n).padStart(23, '0')}`;
}

export function message(n, { room = 'r1', sender = 'bob', text = `m${n}`, client_id = null } = {}) {
  return { id: ulid(n), room, sender, text, ts: new Date(1_700_000_000_000 + n * 1000).toISOString(), client_id };
}

/** A Connection double for the client's parts: records frames, refuses them when not connected. */
export function fakeConnection() {
  return {
    connected: true,
    opens: 1,
    sent: [],
    send(frame) {
      if (!this.connected) return false;
      this.sent.push(frame);
      return true;
    },
    frames(action) {
      return this.sent.filter((frame) => frame.action === action);
    },
  };
}

/** An `emit` that records what was emitted, as [type, detail] pairs. */
export function recordEmits() {
  const events = [];
  const emit = (type, detail) => events.push([type, detail]);
  return { emit, events, types: () => events.map(([type]) => type) };
}
