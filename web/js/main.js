// Entry point: reads config.json, restores or asks for a session, and starts the chat.

import { defaultConfig, normalizeConfig, websocketEndpoint } from './config.js';
import { createApi } from './api.js';
import { Connection } from './connection.js';
import { ChatClient } from './chat-client.js';
import { clearSession, loadSession, MemoryStorage, saveSession } from './storage.js';
import { AuthView } from './ui/auth-view.js';
import { ChatView } from './ui/chat-view.js';

function storageOr(name) {
  try {
    const storage = window[name];
    const probe = '__chat_probe__';
    storage.setItem(probe, '1');
    storage.removeItem(probe);
    return storage;
  } catch {
    return new MemoryStorage(); // storage disabled: works, but forgets on reload
  }
}

const sessionStore = storageOr('sessionStorage');
const persistentStore = storageOr('localStorage');

async function loadConfig() {
  const url = new URL('config.json', document.baseURI);
  try {
    const response = await fetch(url, { cache: 'no-store', credentials: 'omit' });
    if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`);
    return normalizeConfig(await response.json(), window.location);
  } catch (error) {
    console.warn('Using same-origin API defaults:', error.message);
    return defaultConfig(window.location);
  }
}

class App {
  constructor(config) {
    this.config = config;
    this.session = null;
    this.client = null;
    this.chatView = null;
    this.api = createApi({
      apiUrl: config.apiUrl,
      getToken: () => this.session?.token ?? null,
      onUnauthorized: () => {
        if (this.session) this.logout('Your session has expired. Please sign in again.');
      },
    });
    this.auth = new AuthView({ api: this.api, onAuthenticated: (data) => this.signedIn(data) });
    window.addEventListener('hashchange', () => {
      if (!this.session) {
        this.auth.show(this._authMode(), null);
        return;
      }
      // A #/c/<id> link (or the back button) opens that conversation.
      const conv = this._hashConversation();
      if (conv && this.chatView && conv !== this.client?.active) this.chatView.openConversation(conv);
    });
  }

  _authMode() {
    return window.location.hash === '#/register' ? 'register' : 'login';
  }

  async boot() {
    const saved = loadSession(sessionStore);
    if (!saved) {
      this.auth.show(this._authMode());
      return;
    }
    this.session = saved;
    try {
      const data = await this.api.me();
      if (data?.user) this.session = { ...saved, user: data.user };
    } catch (error) {
      if (error.status === 401) return; // onUnauthorized has shown the sign-in form
      // Offline or server trouble: start anyway; the connection retries and says so.
    }
    await this.startChat();
  }

  signedIn({ token, user }) {
    this.session = { token, user };
    saveSession(sessionStore, token, user);
    this.auth.hide();
    history.replaceState(null, '', '#/');
    this.startChat();
  }

  async startChat() {
    const { config, session } = this;
    const client = new ChatClient({
      api: this.api,
      user: session.user,
      persistent: persistentStore,
      session: sessionStore,
      createConnection: (handlers) => new Connection({
        url: () => websocketEndpoint(config.websocketUrl, session.token),
        WebSocketImpl: window.WebSocket,
        ...handlers,
      }),
    });
    this.client = client;
    this.chatView = new ChatView({ client, onLogout: () => this.logout('You have signed out.') });
    client.on('unauthorized', () => this.logout('Your session has expired. Please sign in again.'));
    client.visible = !document.hidden;
    this.auth.root.hidden = true;
    this.chatView.show();
    // Hooks for the browser tests (and for poking at the connection from the console).
    window.__chat = {
      dropSocket: () => client.connection.drop(),
      goOffline: () => client.connection.pause(),
      goOnline: () => client.connection.resume(),
      status: () => client.status,
      opens: () => client.connection.opens,
    };
    if (navigator.onLine === false) client.setNetwork(false);
    const started = client.start();
    const conv = this._hashConversation();
    if (conv) {
      await started;
      if (this.client === client) this.chatView.openConversation(conv);
    }
  }

  _hashConversation() {
    const match = window.location.hash.match(/^#\/c\/(.+)$/);
    if (!match) return null;
    try {
      return decodeURIComponent(match[1]);
    } catch {
      return null;
    }
  }

  logout(reason) {
    if (this.client) {
      this.client.stop();
      this.client.forgetLocalData();
      this.client = null;
    }
    if (this.chatView) {
      this.chatView.destroy();
      this.chatView = null;
    }
    this.session = null;
    delete window.__chat;
    clearSession(sessionStore);
    history.replaceState(null, '', '#/login');
    this.auth.show('login', reason);
  }
}

async function main() {
  const config = await loadConfig();
  const app = new App(config);
  document.getElementById('boot').hidden = true;
  await app.boot();
}

main().catch((error) => {
  console.error(error);
  const boot = document.getElementById('boot');
  boot.hidden = false;
  boot.textContent = 'The chat could not start. Please reload the page.';
});
