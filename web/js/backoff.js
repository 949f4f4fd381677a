// Reconnection delays: exponential backoff with "equal jitter". No DOM access.

export const BACKOFF_DEFAULTS = Object.freeze({ baseMs: 500, capMs: 30_000 });

/**
 * The delay before reconnection attempt number `attempt` (0 for the first retry).
 * The ceiling doubles each attempt up to `capMs`; the delay is drawn uniformly from
 * [ceiling/2, ceiling], so that clients that dropped together do not retry together,
 * yet no retry comes sooner than half the ceiling.
 */
export function backoffDelay(attempt, { baseMs = BACKOFF_DEFAULTS.baseMs, capMs = BACKOFF_DEFAULTS.capMs,
  random = Math.random } = {}) {
  const n = Math.max(0, Math.min(Number.isFinite(attempt) ? Math.floor(attempt) : 0, 30));
  const ceiling = Math.min(capMs, baseMs * 2 ** n);
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.round(ceiling / 2 + (r * ceiling) / 2);
}
