// @ts-check
/**
 * @file The identity screen: who you are, the export of your identity to a
 * passphrase-protected file (the format `peerctl import` reads), the
 * import of one, and the warning while the identity exists only here.
 */

import { exportIdentity, importIdentity, MIN_PASSPHRASE_CHARS } from '../lib/identity.js';
import { h, field, labelled, describe } from './dom.js';

/** @typedef {import('./app.js').App} App */

/**
 * The banner shown until the identity was exported.
 * @param {App} app
 * @returns {HTMLElement}
 */
export function exportWarning(app) {
  return h(
    'p',
    { class: 'banner warn', role: 'note', 'data-testid': 'export-warning' },
    'Your identity exists only in this browser. Clearing site data deletes it for good. ',
    h('a', { href: '#account' }, 'Export it'),
    app.meta.canExport ? ' to a file to keep it.' : '.',
  );
}

/**
 * @param {App} app
 * @returns {HTMLElement}
 */
export function accountView(app) {
  const client = app.need();
  return h(
    'section',
    { class: 'account', 'aria-labelledby': 'account-title' },
    app.backLink(),
    h('h2', { id: 'account-title' }, 'Your identity'),
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'Name'), h('dd', { 'data-testid': 'account-name' }, app.meta.name ?? '—'),
      h('dt', {}, 'User id'), h('dd', { class: 'mono', 'data-testid': 'account-id' }, client.userId),
      h('dt', {}, 'Node'), h('dd', { class: 'mono' }, `${client.node.name} · ${client.nodeId}`),
      h('dt', {}, 'Exported'), h('dd', {}, app.meta.exported ? 'yes' : 'not yet'),
    ),
    exportForm(app),
    importForm(app, 'Use another identity'),
  );
}

/**
 * @param {App} app
 * @returns {HTMLElement}
 */
function exportForm(app) {
  const out = h('p', { role: 'status', 'data-testid': 'export-out' });
  if (!app.meta.canExport) {
    return h('section', { class: 'card' }, h('h3', {}, 'Export'), h('p', {}, 'This browser keeps no exportable copy of the key (it was removed), so it cannot be exported from here.'));
  }
  const pass = h('input', { type: 'password', name: 'pass', required: true, minlength: MIN_PASSPHRASE_CHARS, autocomplete: 'new-password', 'data-testid': 'export-pass' });
  const again = h('input', { type: 'password', name: 'again', required: true, minlength: MIN_PASSPHRASE_CHARS, autocomplete: 'new-password', 'data-testid': 'export-again' });
  const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'export-submit' }, 'Export to a file');
  const form = h(
    'form',
    { class: 'card' },
    h('h3', {}, 'Export'),
    h('p', {}, 'Saves your key in a file encrypted with a passphrase. `peerctl import` and another browser can use it: the same user everywhere. Keep file and passphrase apart.'),
    labelled('Passphrase', pass, `at least ${MIN_PASSPHRASE_CHARS} characters`),
    labelled('Passphrase again', again),
    submit,
    out,
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const p = field(form, 'pass');
    if (p !== field(form, 'again')) {
      out.textContent = 'The passphrases differ.';
      return;
    }
    const identity = app.identity;
    if (!identity) return;
    submit.disabled = true;
    out.textContent = 'Encrypting…';
    exportIdentity(identity, p)
      .then(async (text) => {
        const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
        const a = h('a', { href: url, download: `${app.meta.name ?? 'peergroup'}.identity` });
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10000);
        await app.store.update({ exported: true });
        app.meta.exported = true;
        app.renderBanner();
        out.textContent = 'Exported. Keep the file and its passphrase safe.';
        form.reset();
      })
      .catch((e) => {
        out.textContent = describe(e);
      })
      .finally(() => {
        submit.disabled = false;
      });
  });
  const forget = h('button', { type: 'button' }, 'Remove the exportable copy');
  forget.addEventListener('click', () => {
    if (!confirm('After this, the identity can no longer be exported from this browser. Continue?')) return;
    app.store.forgetExportKey().then(() => {
      app.meta.canExport = false;
      form.replaceWith(h('p', {}, 'The exportable copy is gone; the key stays usable here.'));
    }, (e) => {
      out.textContent = describe(e);
    });
  });
  return h('div', {}, form, h('p', { class: 'muted' }, 'The keys in daily use are non-extractable: page scripts can use them but not read them. One extractable copy is kept for export; once you exported, you may remove it: ', forget));
}

/**
 * A form that imports an identity file (replacing the identity in this browser).
 * @param {App} app
 * @param {string} title
 * @returns {HTMLElement}
 */
export function importForm(app, title) {
  const out = h('p', { role: 'status', 'data-testid': 'import-out' });
  const file = h('input', { type: 'file', name: 'file', required: true, 'data-testid': 'import-file' });
  const pass = h('input', { type: 'password', name: 'pass', required: true, autocomplete: 'current-password', 'data-testid': 'import-pass' });
  const submit = h('button', { type: 'submit', 'data-testid': 'import-submit' }, 'Import');
  const form = h(
    'form',
    { class: 'card' },
    h('h3', {}, title),
    h('p', {}, 'A file from "Export" or from `peerctl export`.'),
    labelled('Identity file', file),
    labelled('Passphrase', pass),
    submit,
    out,
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const f = file.files?.[0];
    if (!f) return;
    if (app.identity && !app.meta.exported && !confirm('The identity in this browser was never exported and will be lost. Replace it?')) return;
    submit.disabled = true;
    out.textContent = 'Decrypting…';
    f.text()
      .then((text) => importIdentity(text, field(form, 'pass')))
      .then((identity) => app.adopt(identity))
      .catch((e) => {
        out.textContent = describe(e);
        submit.disabled = false;
      });
  });
  return form;
}
