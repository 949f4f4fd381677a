// The head of the open conversation: its title and subtitle, Join / Leave (and the join hint
// that replaces the composer for non-members), and the room's online members with their toggle.

import { elementsById, listen, renderKeyed, setText, show } from './dom.js';
import { createUserItem } from './items.js';
import { isDmId } from '../conversations.js';

export class ConversationHeader {
  /**
   * @param {object} options
   * @param {(conv: string) => void} options.onJoin the user asked to join the open room
   * @param {(username: string) => void} options.onStartDm a member was picked
   */
  constructor({ client, onJoin, onStartDm }) {
    this.client = client;
    this.els = elementsById(['conv-pane', 'conv-title', 'conv-subtitle', 'members-toggle', 'members-count',
      'join-button', 'leave-button', 'join-hint', 'join-hint-button', 'member-list']);
    this.title = this.els.convTitle;
    const { els } = this;
    const join = () => {
      const conv = client.active;
      if (conv && !isDmId(conv)) onJoin(conv);
    };
    this.cleanups = [
      listen(els.joinButton, 'click', join),
      listen(els.joinHintButton, 'click', join),
      listen(els.leaveButton, 'click', () => {
        if (client.active) client.leave(client.active);
      }),
      listen(els.membersToggle, 'click', () => this.setMembersOpen(!this.membersOpen)),
      listen(els.memberList, 'click', (event) => {
        const button = event.target.closest('button[data-user]');
        if (button) onStartDm(button.dataset.user);
      }),
    ];
  }

  destroy() {
    for (const cleanup of this.cleanups) cleanup();
    this.els.memberList.replaceChildren();
    this.setMembersOpen(false);
  }

  get membersOpen() {
    return this.els.convPane.classList.contains('members-open');
  }

  /** The members overlay (phone, tablet); on a desktop the members are a column anyway. */
  setMembersOpen(open) {
    this.els.convPane.classList.toggle('members-open', open);
    this.els.membersToggle.setAttribute('aria-expanded', String(open));
  }

  render() {
    const { client, els } = this;
    const conv = client.active;
    if (!conv) return;
    const info = client.memberships.describe(conv);
    const dm = info.kind === 'dm';
    const member = client.memberships.isMember(conv);
    const joining = client.memberships.isJoining(conv);

    setText(els.convTitle, info.title);
    els.convTitle.title = info.title;
    els.convPane.classList.toggle('is-dm', dm);
    let subtitle = info.description;
    if (dm) subtitle = `Direct message · ${client.presence.isOnline(info.peer) ? 'online' : 'offline'}`;
    setText(els.convSubtitle, subtitle);
    show(els.convSubtitle, Boolean(subtitle));

    show(els.joinButton, !dm && !member);
    show(els.leaveButton, !dm && member);
    els.joinButton.disabled = joining;
    setText(els.joinButton, joining ? 'Joining…' : 'Join');
    els.leaveButton.disabled = client.status !== 'connected';
    els.joinHintButton.disabled = joining;
    setText(els.joinHintButton, joining ? 'Joining…' : 'Join room');
    show(els.joinHint, !dm && !member);

    show(els.membersToggle, !dm && member);
    els.convPane.classList.toggle('has-members', !dm && member);
  }

  renderMembers() {
    const { client, els } = this;
    const conv = client.active;
    if (!conv) return;
    const members = client.presence.membersOf(conv);
    setText(els.membersCount, `(${members.length})`);
    renderKeyed(els.memberList, members, (name) => name.toLowerCase(), (name) => createUserItem(name, client.me),
      () => {});
  }
}
