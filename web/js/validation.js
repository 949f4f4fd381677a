// Client-side checks that mirror the API's rules, so most mistakes are shown before a
// round trip. The server stays the authority: its `fields` are shown the same way. No DOM access.

export const USERNAME_PATTERN = /^[A-Za-z0-9_.-]{3,32}$/;
export const MAX_MESSAGE_CHARS = 4000;
export const MAX_ROOM_NAME_CHARS = 64;
export const MAX_ROOM_DESCRIPTION_CHARS = 500;

/** Size in bytes of a string encoded as UTF-8 (the API's password limits are in bytes). */
export function utf8Length(value) {
  return new TextEncoder().encode(String(value)).length;
}

/** Length in Unicode code points, as the server counts characters. */
export function charLength(value) {
  return [...String(value)].length;
}

export function validateRegistration({ username = '', email = '', password = '' }) {
  const errors = {};
  if (!username) errors.username = 'Choose a username.';
  else if (!USERNAME_PATTERN.test(username)) {
    errors.username = 'Use 3–32 letters, digits, dots, dashes or underscores.';
  }
  const mail = email.trim();
  if (!mail) errors.email = 'Enter your email address.';
  else if (!/^[^\s@]+@[^\s@]+$/.test(mail)) errors.email = 'Enter an email address like name@example.com.';
  const size = utf8Length(password);
  if (!password) errors.password = 'Choose a password.';
  else if (size < 8) errors.password = 'Use at least 8 characters.';
  else if (size > 72) errors.password = 'Use at most 72 bytes (fewer characters if they are not plain ASCII).';
  return errors;
}

export function validateLogin({ username = '', password = '' }) {
  const errors = {};
  if (!username.trim()) errors.username = 'Enter your username or email.';
  if (!password) errors.password = 'Enter your password.';
  return errors;
}

export function validateRoom({ name = '', description = '' }) {
  const errors = {};
  const trimmed = name.trim();
  if (!trimmed) errors.name = 'Give the room a name.';
  else if (charLength(trimmed) > MAX_ROOM_NAME_CHARS) {
    errors.name = `Use at most ${MAX_ROOM_NAME_CHARS} characters.`;
  }
  if (charLength(description.trim()) > MAX_ROOM_DESCRIPTION_CHARS) {
    errors.description = `Use at most ${MAX_ROOM_DESCRIPTION_CHARS} characters.`;
  }
  return errors;
}

/** An error sentence for a message the server would refuse, or null when it is fine. */
export function validateMessage(text) {
  const trimmed = String(text ?? '').trim();
  if (!trimmed) return 'Write something first.';
  const length = charLength(trimmed);
  if (length > MAX_MESSAGE_CHARS) {
    return `Messages can be at most ${MAX_MESSAGE_CHARS} characters (this one has ${length}).`;
  }
  return null;
}
