// DOM helpers. User data only ever reaches the page as text nodes or attribute values set
// through the DOM API: nothing here parses HTML.

import { tokenize } from '../linkify.js';

/**
 * h('li', {className: 'x', dataset: {key: 'k'}, title: 't'}, 'text', child)
 * Strings become text nodes; other properties become attributes.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'className') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from index.html`);
  return el;
}

/** The elements with these ids, by camelCased id: ['conv-title'] -> {convTitle}. */
export function elementsById(ids) {
  return Object.fromEntries(ids.map((id) => [id.replace(/-([a-z])/g, (_, c) => c.toUpperCase()), byId(id)]));
}

/** Adds an event listener; returns what removes it again. */
export function listen(target, type, handler, options) {
  target.addEventListener(type, handler, options);
  return () => target.removeEventListener(type, handler, options);
}

export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

export function show(el, visible) {
  if (el.hidden === visible) el.hidden = !visible;
}

/**
 * Message text as a fragment of text nodes and safe links: an <a> only for http(s) URLs,
 * opening in a new tab without giving it access to this one.
 */
export function richText(text) {
  const fragment = document.createDocumentFragment();
  for (const token of tokenize(text)) {
    if (token.type === 'link') {
      const a = document.createElement('a');
      a.href = token.href;
      a.textContent = token.text;
      a.rel = 'noopener noreferrer';
      a.target = '_blank';
      fragment.append(a);
    } else {
      fragment.append(document.createTextNode(token.text));
    }
  }
  return fragment;
}

/**
 * Renders `items` into `parent`, reusing the element of each key so that focus, scroll and
 * transitions survive re-renders. `create(item)` makes a new element; `update(el, item)`
 * refreshes one (it is called for new elements too). Elements are reordered only if needed.
 */
export function renderKeyed(parent, items, keyOf, create, update) {
  const existing = new Map();
  for (const child of parent.children) existing.set(child.dataset.key, child);
  const wanted = items.map((item) => {
    const key = String(keyOf(item));
    let el = existing.get(key);
    if (!el) {
      el = create(item);
      el.dataset.key = key;
    }
    existing.delete(key);
    update(el, item);
    return el;
  });
  for (const el of existing.values()) el.remove();
  let cursor = parent.firstElementChild;
  for (const el of wanted) {
    if (el === cursor) cursor = cursor.nextElementSibling;
    else parent.insertBefore(el, cursor);
  }
}

/** Shows field errors under their inputs (and marks the inputs invalid); returns the first input. */
export function showFieldErrors(form, prefix, errors) {
  let first = null;
  for (const input of form.querySelectorAll('input, textarea')) {
    const name = input.name;
    const box = document.getElementById(`${prefix}-${name}-error`);
    const message = errors[name];
    if (box) {
      box.textContent = message ?? '';
      box.hidden = !message;
    }
    if (message) {
      input.setAttribute('aria-invalid', 'true');
      first ??= input;
    } else {
      input.removeAttribute('aria-invalid');
    }
  }
  return first;
}

export function showFormError(el, message) {
  el.textContent = message ?? '';
  el.hidden = !message;
}
