// @ts-check
/**
 * @file A few DOM helpers. Every text that comes from the node or another
 * user goes into the page as text (`textContent`), never as HTML: nothing
 * here parses markup, so a message cannot inject script or style.
 */

/**
 * @typedef {string|number|Node|null|undefined|false} Child
 * @typedef {Record<string, string|number|boolean|null|undefined|EventListener>} Attrs
 */

/**
 * Makes an element: `attrs` keys starting with `on` add listeners
 * (`onclick: fn`), booleans toggle attributes, the rest set attributes;
 * children are nodes or text.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Attrs} [attrs]
 * @param {...(Child|Child[])} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), /** @type {EventListener} */ (v));
    } else if (v === true) {
      el.setAttribute(k, '');
    } else {
      el.setAttribute(k, String(v));
    }
  }
  append(el, children);
  return el;
}

/**
 * Appends children (nested arrays flattened; null, undefined and false skipped).
 * @param {Element} el
 * @param {(Child|Child[])[]} children
 */
export function append(el, children) {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'number' ? String(c) : c);
  }
}

/**
 * Replaces an element's children.
 * @param {Element} el
 * @param {...(Child|Child[])} children
 */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/**
 * The element with this id (throws if absent: a bug in the page).
 * @param {string} id
 * @returns {HTMLElement}
 */
export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing`);
  return el;
}

/**
 * A form field's value by name.
 * @param {HTMLFormElement} form
 * @param {string} name
 * @returns {string}
 */
export function field(form, name) {
  const el = form.elements.namedItem(name);
  if (el instanceof HTMLInputElement && el.type === 'checkbox') return el.checked ? 'on' : '';
  if (el instanceof HTMLInputElement || el instanceof HTMLSelectElement || el instanceof HTMLTextAreaElement) {
    return el.value;
  }
  return '';
}

/**
 * A labelled form control.
 * @param {string} label
 * @param {HTMLElement} control
 * @param {string} [hint]
 * @returns {HTMLLabelElement}
 */
export function labelled(label, control, hint) {
  return h('label', { class: 'field' }, h('span', { class: 'label' }, label), control, hint ? h('small', { class: 'hint' }, hint) : null);
}

/**
 * A time as the user's locale shows it (today: time only).
 * @param {number} unixSecs
 * @returns {string}
 */
export function formatTime(unixSecs) {
  const d = new Date(unixSecs * 1000);
  const now = new Date();
  const sameDay = d.toDateString() === now.toDateString();
  return sameDay
    ? d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })
    : d.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

/**
 * A short description of an error for people (the stable code in brackets).
 * @param {unknown} e
 * @returns {string}
 */
export function describe(e) {
  if (e && typeof e === 'object' && 'code' in e && 'message' in e) {
    return `${String(e.message)} (${String(e.code)})`;
  }
  return e instanceof Error ? e.message : String(e);
}

/**
 * The stable code of an error, or ''.
 * @param {unknown} e
 * @returns {string}
 */
export function codeOf(e) {
  return e && typeof e === 'object' && 'code' in e ? String(e.code) : '';
}
