// @ts-check
/**
 * @file The first screen: make an identity in this browser and register a
 * name with the node, or bring an identity exported from another browser
 * or from `peerctl export`.
 */

import { h, field, labelled, describe } from './dom.js';
import { importForm } from './account.js';

/** @typedef {import('./app.js').App} App */

/**
 * @param {App} app
 * @param {string|null} suggested a name stored with an identity that is not registered on this node
 * @returns {HTMLElement}
 */
export function registerScreen(app, suggested) {
  const error = h('p', { class: 'error', role: 'alert', 'data-testid': 'register-error' });
  const name = h('input', {
    name: 'name', required: true, autocomplete: 'username', maxlength: 32, pattern: '[A-Za-z0-9_.\\-]{1,32}',
    value: suggested ?? '', 'data-testid': 'register-name', autofocus: true,
  });
  const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'register-submit' }, app.identity ? 'Register' : 'Create my identity');
  const form = h(
    'form',
    { class: 'card', 'aria-labelledby': 'register-title' },
    h('h2', { id: 'register-title' }, app.identity ? 'Register with this node' : 'Welcome to peergroup'),
    app.identity
      ? h('p', {}, 'This browser holds an identity that is not registered with this node yet. Choose the name others see.')
      : h('p', {}, 'Your identity is a key pair made in this browser. It never leaves it unless you export it; the node learns only the public key and your name.'),
    labelled('Name', name, '1-32 letters, digits, _ . -'),
    h('p', { class: 'warn' }, 'The identity is kept in this browser (IndexedDB). Clearing this site\'s data deletes it, and an identity that was not exported is then lost for good: export it once you are in.'),
    submit,
    error,
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const value = field(form, 'name').trim();
    error.textContent = '';
    submit.disabled = true;
    submit.textContent = app.identity ? 'Registering…' : 'Making your key…';
    app.register(value).catch((e) => {
      error.textContent = describe(e);
      submit.disabled = false;
      submit.textContent = app.identity ? 'Register' : 'Create my identity';
    });
  });
  return h(
    'div',
    { class: 'register' },
    h('header', { class: 'topbar' }, h('h1', { class: 'brand' }, 'peergroup')),
    h('div', { class: 'register-body' }, form, app.identity ? null : importForm(app, 'Already have an identity? Import its file')),
  );
}
