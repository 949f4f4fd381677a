// The sign-in and registration forms.

import { byId, showFieldErrors, showFormError } from './dom.js';
import { validateLogin, validateRegistration } from '../validation.js';

/** A sentence for a failed sign-in or registration, by HTTP status. */
export function authErrorMessage(error, mode) {
  if (error.code === 'network' || error.status === 0) {
    return 'Could not reach the server. Check your connection and try again.';
  }
  if (error.status === 401) return 'That username or email and password do not match.';
  if (error.status === 409) {
    return 'That username or email is already registered. Choose another, or sign in.';
  }
  if (error.status === 429) {
    const wait = error.retryAfter ? `${error.retryAfter} seconds` : 'a minute';
    return `Too many attempts. Please wait ${wait} and try again.`;
  }
  if (error.status === 400 && Object.keys(error.fields ?? {}).length) {
    return 'Please correct the fields marked below.';
  }
  return error.message || (mode === 'login' ? 'Could not sign in.' : 'Could not create the account.');
}

export class AuthView {
  constructor({ api, onAuthenticated }) {
    this.api = api;
    this.onAuthenticated = onAuthenticated;
    this.root = byId('auth-view');
    this.loginForm = byId('login-form');
    this.registerForm = byId('register-form');
    this.notice = byId('auth-notice');
    this.loginForm.addEventListener('submit', (event) => this._submit(event, 'login'));
    this.registerForm.addEventListener('submit', (event) => this._submit(event, 'register'));
    // Errors go away as soon as the user edits the field they are about.
    for (const form of [this.loginForm, this.registerForm]) {
      form.addEventListener('input', (event) => {
        const input = event.target;
        if (input.getAttribute('aria-invalid') !== 'true') return;
        input.removeAttribute('aria-invalid');
        const prefix = form === this.loginForm ? 'login' : 'register';
        const box = document.getElementById(`${prefix}-${input.name}-error`);
        if (box) box.hidden = true;
      });
    }
  }

  /** Shows the view; `mode` is 'login' or 'register'. */
  show(mode = 'login', notice = '') {
    this.root.hidden = false;
    this.mode = mode === 'register' ? 'register' : 'login';
    this.loginForm.hidden = this.mode !== 'login';
    this.registerForm.hidden = this.mode !== 'register';
    document.title = this.mode === 'login' ? 'Sign in – Chat' : 'Create an account – Chat';
    if (notice !== null) {
      this.notice.textContent = notice;
      this.notice.hidden = !notice;
    }
    const form = this.mode === 'login' ? this.loginForm : this.registerForm;
    form.querySelector('input').focus();
  }

  hide() {
    this.root.hidden = true;
    this.loginForm.reset();
    this.registerForm.reset();
    for (const [form, prefix] of [[this.loginForm, 'login'], [this.registerForm, 'register']]) {
      showFieldErrors(form, prefix, {});
      showFormError(byId(`${prefix}-error`), '');
    }
  }

  async _submit(event, mode) {
    event.preventDefault();
    const form = mode === 'login' ? this.loginForm : this.registerForm;
    const errorBox = byId(`${mode}-error`);
    const values = Object.fromEntries(new FormData(form).entries());
    const errors = mode === 'login' ? validateLogin(values) : validateRegistration(values);
    const firstInvalid = showFieldErrors(form, mode, errors);
    if (firstInvalid) {
      showFormError(errorBox, '');
      firstInvalid.focus();
      return;
    }
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    form.setAttribute('aria-busy', 'true');
    showFormError(errorBox, '');
    this.notice.hidden = true;
    try {
      const data = mode === 'login'
        ? await this.api.login(values.username.trim(), values.password)
        : await this.api.register(values.username, values.email.trim(), values.password);
      if (typeof data.token !== 'string' || !data.user || typeof data.user.username !== 'string') {
        throw Object.assign(new Error('The server sent an unexpected answer.'), { status: 500 });
      }
      this.onAuthenticated(data);
    } catch (error) {
      const fields = error.fields ?? {};
      const known = {};
      const other = [];
      for (const [name, reason] of Object.entries(fields)) {
        if (form.elements.namedItem(name)) known[name] = capitalize(reason);
        else other.push(`${name}: ${reason}`);
      }
      const first = showFieldErrors(form, mode, known);
      let message = authErrorMessage(error, mode);
      if (other.length) message = `${message} (${other.join('; ')})`;
      showFormError(errorBox, message);
      (first ?? form.querySelector('input[type="password"]') ?? form.querySelector('input')).focus();
      if (error.status === 401) form.querySelector('input[type="password"]').select();
    } finally {
      button.disabled = false;
      form.removeAttribute('aria-busy');
    }
  }
}

function capitalize(text) {
  const value = String(text ?? '');
  return value ? value[0].toUpperCase() + value.slice(1) : value;
}
