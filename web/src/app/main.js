// @ts-check
/**
 * @file The entry module of the web app (loaded by index.html): loads the
 * identity from IndexedDB, connects to the node that served the page, and
 * shows either the registration screen or the chat.
 */

import { App } from './app.js';

const root = document.getElementById('app');
if (root) {
  const app = new App(root);
  app.boot().catch((e) => app.fatal(e));
}
