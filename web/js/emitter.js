// A tiny event emitter (no DOM access, so it works under Node's test runner too).

export class Emitter {
  constructor() {
    this._listeners = new Map();
  }

  on(type, listener) {
    if (!this._listeners.has(type)) this._listeners.set(type, new Set());
    this._listeners.get(type).add(listener);
    return () => this._listeners.get(type)?.delete(listener);
  }

  emit(type, detail) {
    for (const listener of [...(this._listeners.get(type) ?? [])]) listener(detail);
  }
}
