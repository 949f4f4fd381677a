// The REST API client. No DOM access: `fetch` is passed in (the browser's by default).

import { apiEndpoint } from './config.js';

export class ApiError extends Error {
  /**
   * @param {number} status HTTP status (0 when the server could not be reached)
   * @param {string} code the contract's machine code, or 'network' / 'bad_response'
   * @param {string} message a sentence for people
   * @param {object} fields per-field reasons for 400 invalid_request
   */
  constructor(status, code, message, fields = {}, retryAfter = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.fields = fields;
    this.retryAfter = retryAfter;
  }
}

const FALLBACK_MESSAGES = {
  400: 'The request was not accepted.',
  401: 'Please sign in again.',
  403: 'You are not allowed to do that.',
  404: 'Not found.',
  409: 'That already exists.',
  413: 'That is too large.',
  429: 'Too many requests. Please wait a moment and try again.',
};

/** Builds the ApiError for a non-2xx response from its status and (maybe) JSON body. */
export function errorFromResponse(status, body, retryAfterHeader = null) {
  const error = body && typeof body === 'object' ? body.error : null;
  const code = error && typeof error.code === 'string' ? error.code : `http_${status}`;
  const message = error && typeof error.message === 'string' && error.message
    ? error.message
    : (FALLBACK_MESSAGES[status] ?? `The server answered ${status}.`);
  const fields = error && error.fields && typeof error.fields === 'object' ? { ...error.fields } : {};
  const seconds = Number.parseInt(retryAfterHeader ?? '', 10);
  return new ApiError(status, code, message, fields, Number.isFinite(seconds) ? seconds : null);
}

export function createApi({ apiUrl, getToken = () => null, fetchImpl = globalThis.fetch.bind(globalThis),
  onUnauthorized = () => {} }) {
  async function request(method, segments, { body, auth = true } = {}) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const token = auth ? getToken() : null;
    if (token) headers.Authorization = `Bearer ${token}`;
    let response;
    try {
      response = await fetchImpl(apiEndpoint(apiUrl, segments), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
        credentials: 'omit',
      });
    } catch {
      throw new ApiError(0, 'network', 'Could not reach the server. Check your connection.');
    }
    let data = null;
    const text = await response.text().catch(() => '');
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!response.ok) {
      const error = errorFromResponse(response.status, data, response.headers?.get?.('Retry-After'));
      if (response.status === 401 && auth && token) onUnauthorized(error);
      throw error;
    }
    if (data === null || typeof data !== 'object') {
      throw new ApiError(response.status, 'bad_response', 'The server sent an unexpected answer.');
    }
    return data;
  }

  return {
    register: (username, email, password) => request('POST', ['auth', 'register'],
      { body: { username, email, password }, auth: false }),
    login: (username, password) => request('POST', ['auth', 'login'],
      { body: { username, password }, auth: false }),
    me: () => request('GET', ['me']),
    myRooms: () => request('GET', ['me', 'rooms']),
    rooms: () => request('GET', ['chatrooms']),
    createRoom: (name, description) => request('POST', ['chatrooms'],
      { body: description ? { name, description } : { name } }),
    onlineUsers: () => request('GET', ['users', 'online']),
  };
}
