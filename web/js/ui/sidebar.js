// The sidebar: your rooms, direct messages, all rooms (with the "New room" form) and who is
// online; and the unread total on the menu button and in the page title. Each render method
// updates one of these from the client's state, reusing the elements already there.

import { elementsById, listen, renderKeyed, setText, show, showFieldErrors, showFormError } from './dom.js';
import { createConvItem, createUserItem, unreadText, updateConvItem, updateUnreadBadge } from './items.js';
import { validateRoom } from '../validation.js';

/** The answer to a failed POST /chatrooms, as a sentence for the form. */
function createRoomError(error) {
  if (error.status === 409) return 'A room with that name already exists. Pick another name.';
  if (error.status === 429) return 'Too many requests. Please wait a moment and try again.';
  if (error.status === 0) return 'Could not reach the server. Try again when you are online.';
  return error.message || 'Could not create the room.';
}

export class Sidebar {
  /**
   * @param {object} options
   * @param {(conv: string) => void} options.onOpen a conversation was picked
   * @param {(username: string) => void} options.onStartDm a user was picked
   * @param {() => void} options.onRoomCreated the new room is the active conversation
   */
  constructor({ client, onOpen, onStartDm, onRoomCreated }) {
    this.client = client;
    this.onRoomCreated = onRoomCreated;
    this.els = elementsById(['joined-list', 'joined-empty', 'dm-list', 'dm-empty', 'room-list', 'rooms-empty',
      'online-list', 'new-room-toggle', 'new-room-form', 'new-room-cancel', 'room-error', 'room-name',
      'room-description', 'menu-unread']);
    const { els } = this;
    this.cleanups = [
      // One listener per list: the item says what to open.
      ...[els.joinedList, els.dmList, els.roomList].map((list) => listen(list, 'click', (event) => {
        const button = event.target.closest('button[data-conv]');
        if (button) onOpen(button.dataset.conv);
      })),
      listen(els.onlineList, 'click', (event) => {
        const button = event.target.closest('button[data-user]');
        if (button) onStartDm(button.dataset.user);
      }),
      listen(els.newRoomToggle, 'click', () => this._toggleNewRoom()),
      listen(els.newRoomCancel, 'click', () => this._toggleNewRoom(false)),
      listen(els.newRoomForm, 'submit', (event) => this._createRoom(event)),
    ];
  }

  destroy() {
    for (const cleanup of this.cleanups) cleanup();
    const { els } = this;
    for (const list of [els.joinedList, els.dmList, els.roomList, els.onlineList]) list.replaceChildren();
    els.newRoomForm.hidden = true;
  }

  /** The three conversation lists: which items, their order, names and the one open. */
  renderLists() {
    const { client, els } = this;
    const { memberships, presence } = client;
    const item = (conv, label, extra = {}) => ({ conv, label, current: conv === client.active, ...extra });

    const joined = memberships.joinedRoomList();
    renderKeyed(els.joinedList, joined, (room) => room.id, createConvItem, (el, room) => updateConvItem(el,
      item(room.id, room.name, { unread: client.unread(room.id) })));
    show(els.joinedEmpty, joined.length === 0);

    const dms = memberships.dmList((id) => client.history.newestId(id));
    renderKeyed(els.dmList, dms, (dm) => dm.id, createConvItem, (el, dm) => updateConvItem(el,
      item(dm.id, dm.user, { unread: client.unread(dm.id), online: presence.isOnline(dm.user) })));
    show(els.dmEmpty, dms.length === 0);

    const rooms = memberships.roomList();
    renderKeyed(els.roomList, rooms, (room) => room.id, createConvItem, (el, room) => updateConvItem(el,
      item(room.id, room.name, { unread: 0, joined: memberships.joined.has(room.id) })));
    show(els.roomsEmpty, rooms.length === 0);
  }

  /** "Online now", and the online mark of each DM. */
  renderOnline() {
    const { client, els } = this;
    renderKeyed(els.onlineList, client.presence.online, (name) => name.toLowerCase(),
      (name) => createUserItem(name, client.me), () => {});
    for (const el of els.dmList.children) {
      const user = client.memberships.dms.get(el.dataset.key)?.user;
      el.classList.toggle('is-online', Boolean(user) && client.presence.isOnline(user));
    }
  }

  /** Unread badges, their total on the menu button, and the page title. */
  renderUnread() {
    const { client, els } = this;
    let total = 0;
    for (const el of [...els.joinedList.children, ...els.dmList.children]) {
      const unread = client.unread(el.dataset.key);
      updateUnreadBadge(el, unread);
      total += unread;
    }
    show(els.menuUnread, total > 0);
    setText(els.menuUnread, unreadText(total));
    const title = client.active ? `${client.memberships.describe(client.active).title} – Chat` : 'Chat';
    document.title = total > 0 ? `(${total}) ${title}` : title;
  }

  _toggleNewRoom(force) {
    const { els } = this;
    const open = force ?? els.newRoomForm.hidden;
    els.newRoomForm.hidden = !open;
    els.newRoomToggle.setAttribute('aria-expanded', String(open));
    if (open) {
      els.roomName.focus();
    } else {
      els.newRoomForm.reset();
      showFieldErrors(els.newRoomForm, 'room', {});
      showFormError(els.roomError, '');
      els.newRoomToggle.focus();
    }
  }

  async _createRoom(event) {
    event.preventDefault();
    const { els } = this;
    const form = els.newRoomForm;
    const values = { name: els.roomName.value, description: els.roomDescription.value };
    const first = showFieldErrors(form, 'room', validateRoom(values));
    showFormError(els.roomError, '');
    if (first) {
      first.focus();
      return;
    }
    const submit = form.querySelector('button[type="submit"]');
    submit.disabled = true;
    try {
      await this.client.createRoom(values.name, values.description);
      form.reset();
      form.hidden = true;
      els.newRoomToggle.setAttribute('aria-expanded', 'false');
      this.onRoomCreated();
    } catch (error) {
      const firstField = showFieldErrors(form, 'room', { ...(error.fields ?? {}) });
      showFormError(els.roomError, createRoomError(error));
      (firstField ?? els.roomName).focus();
    } finally {
      submit.disabled = false;
    }
  }
}
