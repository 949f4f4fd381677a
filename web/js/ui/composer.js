// Writing in the open conversation: the composer (Enter sends, Shift+Enter starts a new line),
// telling the others that we type, and the "X is typing…" line about them.

import { elementsById, listen, setText, show, showFormError } from './dom.js';
import { typingText } from '../typing.js';

const PLACEHOLDER_TITLE_MAX = 24;

export class Composer {
  /** @param {{client: object, onSent: () => void}} options onSent: a message was queued */
  constructor({ client, onSent }) {
    this.client = client;
    this.onSent = onSent;
    this.els = elementsById(['composer', 'composer-input', 'composer-error', 'typing', 'conv-title']);
    this.input = this.els.composerInput;
    this.focusWhenJoined = null; // the room whose composer gets focus once it appears
    const { els } = this;
    this.cleanups = [
      listen(els.composer, 'submit', (event) => {
        event.preventDefault();
        this._send();
      }),
      listen(els.composerInput, 'keydown', (event) => {
        if (event.key === 'Enter' && !event.shiftKey && !event.isComposing && !event.altKey
          && !event.ctrlKey && !event.metaKey) {
          event.preventDefault();
          this._send();
        }
      }),
      listen(els.composerInput, 'input', () => {
        showFormError(els.composerError, '');
        if (els.composerInput.value.trim()) client.notifyTyping();
      }),
    ];
  }

  destroy() {
    for (const cleanup of this.cleanups) cleanup();
    this.input.value = '';
  }

  /** The composer appears once the server confirms the join: keyboard focus goes there then. */
  focusOnceJoined() {
    this.focusWhenJoined = this.client.active;
    this.els.convTitle.focus();
  }

  render() {
    const { client, els } = this;
    const conv = client.active;
    if (!conv) return;
    const member = client.memberships.isMember(conv);
    show(els.composer, member);
    if (this.focusWhenJoined) {
      if (this.focusWhenJoined !== conv) this.focusWhenJoined = null;
      else if (member) {
        this.focusWhenJoined = null;
        // Only if the user has not moved on meanwhile.
        if (document.activeElement === els.convTitle || document.activeElement === document.body) {
          queueMicrotask(() => els.composerInput.focus());
        }
      }
    }
    const { title } = client.memberships.describe(conv);
    let placeholder = title.length <= PLACEHOLDER_TITLE_MAX ? `Message ${title}` : 'Write a message…';
    if (client.status !== 'connected') placeholder = 'Offline: messages are sent when reconnected';
    if (els.composerInput.placeholder !== placeholder) els.composerInput.placeholder = placeholder;
  }

  renderTyping() {
    const conv = this.client.active;
    if (conv) setText(this.els.typing, typingText(this.client.presence.typingIn(conv)));
  }

  _send() {
    const { input } = this;
    const result = this.client.sendMessage(input.value);
    if (result.error) {
      showFormError(this.els.composerError, result.error);
      return;
    }
    input.value = '';
    showFormError(this.els.composerError, '');
    this.onSent();
    input.focus();
  }
}
