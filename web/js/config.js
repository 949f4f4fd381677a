// Where the APIs are: reading config.json and building request URLs. No DOM access.

function stripTrailingSlashes(value) {
  return value.replace(/\/+$/, '');
}

function isHttpUrl(value) {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

function isWsUrl(value) {
  try {
    const url = new URL(value);
    return url.protocol === 'ws:' || url.protocol === 'wss:';
  } catch {
    return false;
  }
}

/** What to use when config.json is missing: the same origin, `/api` and `/ws`. */
export function defaultConfig(location) {
  const origin = new URL(location.href).origin;
  const wsOrigin = origin.replace(/^http/, 'ws');
  return { apiUrl: `${origin}/api`, websocketUrl: `${wsOrigin}/ws` };
}

/**
 * Validates a parsed config.json. `apiUrl` is the REST base URL including its `/api` path.
 * Relative URLs are resolved against the page's location. Throws on anything unusable.
 */
export function normalizeConfig(raw, location) {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new Error('config.json must be a JSON object');
  }
  const { apiUrl, websocketUrl } = raw;
  if (typeof apiUrl !== 'string' || !apiUrl.trim()) {
    throw new Error('config.json: apiUrl is missing');
  }
  if (typeof websocketUrl !== 'string' || !websocketUrl.trim()) {
    throw new Error('config.json: websocketUrl is missing');
  }
  const api = new URL(apiUrl.trim(), location.href).href;
  let ws = websocketUrl.trim();
  if (!/^wss?:/i.test(ws)) {
    // A relative or http(s) URL: resolve, then switch the scheme.
    ws = new URL(ws, location.href).href.replace(/^http/i, 'ws');
  }
  if (!isHttpUrl(api)) throw new Error('config.json: apiUrl must be an http(s) URL');
  if (!isWsUrl(ws)) throw new Error('config.json: websocketUrl must be a ws(s) URL');
  return { apiUrl: stripTrailingSlashes(api), websocketUrl: ws };
}

/**
 * apiEndpoint('https://h/api', ['chatrooms', 'dm:a:b']) -> 'https://h/api/chatrooms/dm%3Aa%3Ab'
 * Path segments are URL-encoded one by one, so a name can never step out of its segment.
 */
export function apiEndpoint(apiUrl, segments) {
  const path = segments.map((segment) => encodeURIComponent(String(segment))).join('/');
  return `${stripTrailingSlashes(apiUrl)}/${path}`;
}

/** The WebSocket URL with `token` added to its query (URL-encoded), keeping any query it had. */
export function websocketEndpoint(websocketUrl, token) {
  const url = new URL(websocketUrl);
  url.searchParams.set('token', token);
  return url.href;
}
