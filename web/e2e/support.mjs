// @ts-check
/**
 * @file What the end-to-end tests share: a real `peerd` on 127.0.0.1 (port
 * 0, read back), Debian's Chromium driven by playwright-core (never a
 * downloaded browser), `peerctl` runs with a temporary profile home, and
 * page helpers that act as a user would (through the app's controls).
 */

import { spawn, execFile } from 'node:child_process';
import { mkdtemp, rm, mkdir, access, constants } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const targetDir = process.env.CARGO_TARGET_DIR || join(repo, 'target');

/** The peerd binary (`$PEER_TEST_PEERD`, else the debug build). */
export const PEERD = process.env.PEER_TEST_PEERD || join(targetDir, 'debug', 'peerd');
/** The peerctl binary (`$PEER_TEST_PEERCTL`, else the debug build). */
export const PEERCTL = process.env.PEER_TEST_PEERCTL || join(targetDir, 'debug', 'peerctl');
/** Chromium (`$PEER_TEST_CHROMIUM`, else Debian's). */
export const CHROMIUM = process.env.PEER_TEST_CHROMIUM || '/usr/bin/chromium';
/** Where screenshots go (`$PEER_WEB_SCREENSHOTS`, else e2e/out/). */
export const SHOTS = process.env.PEER_WEB_SCREENSHOTS || join(here, 'out');
/** How long "eventually" may take on a loaded 2-core machine. */
export const PATIENCE = 30_000;

/**
 * A running `peerd --ephemeral --discovery off` on 127.0.0.1, port 0.
 * @returns {Promise<{url: string, stop: () => Promise<void>}>}
 */
export async function startPeerd() {
  for (const [what, path] of [['peerd', PEERD], ['peerctl', PEERCTL], ['chromium', CHROMIUM]]) {
    try {
      await access(path, constants.X_OK);
    } catch {
      throw new Error(`${what} not found at ${path}: build it with \`cargo build -p peerd -p peerctl --bins\` (set CARGO_TARGET_DIR or PEER_TEST_PEERD/PEER_TEST_PEERCTL), install Debian's chromium (or set PEER_TEST_CHROMIUM)`);
    }
  }
  const home = await mkdtemp(join(tmpdir(), 'peer-web-e2e-'));
  /** @type {Record<string, string>} */
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('PEERD_')) env[k] = v;
  }
  env.HOME = home;
  delete env.XDG_DATA_HOME;
  delete env.XDG_CONFIG_HOME;
  const child = spawn(
    PEERD,
    ['--ephemeral', '--discovery', 'off', '--listen', '127.0.0.1:0', '--handshake-rate', '1000', '--log-level', 'warn'],
    { env, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: /** @type {import('node:stream').Readable} */ (child.stdout) });
  const url = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error('peerd printed no listening line')), PATIENCE);
    child.once('error', fail);
    child.once('exit', (code) => fail(new Error(`peerd exited (${code}) before listening`)));
    lines.once('line', (line) => {
      clearTimeout(timer);
      const m = /^listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line);
      if (m) ok(m[1]);
      else fail(new Error(`unexpected first line ${JSON.stringify(line)}`));
    });
  });
  // Keep reading stdout so peerd never blocks on a full pipe.
  lines.on('line', () => {});
  return {
    url,
    stop: async () => {
      child.kill('SIGKILL');
      await rm(home, { recursive: true, force: true });
    },
  };
}

/** @returns {Promise<import('playwright-core').Browser>} */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
    timeout: PATIENCE,
  });
}

/**
 * A user's browser context and page, recording every console message,
 * page error and CSP violation (the app must cause none).
 * @param {import('playwright-core').Browser} browser
 * @param {{width?: number, height?: number}} [viewport]
 */
export async function openUser(browser, viewport = {}) {
  const context = await browser.newContext({
    viewport: { width: viewport.width ?? 1280, height: viewport.height ?? 800 },
    acceptDownloads: true,
  });
  context.setDefaultTimeout(PATIENCE);
  /** @type {string[]} */
  const problems = [];
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  const page = await context.newPage();
  /** @type {string[]} API refusals (4xx) the app handled, for diagnostics. */
  const refusals = [];
  page.on('console', (m) => {
    // Chromium logs every 4xx answer as a console error; the protocol has
    // expected ones (a rotation race answered 409, a kicked member's 403),
    // listed in `refusals` instead.
    if (/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) return;
    if (m.type() === 'error' || /Content Security Policy|Refused to/i.test(m.text())) problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) refusals.push(`${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  return { context, page, problems, refusals };
}

/**
 * Registers a new user through the first screen.
 * @param {import('playwright-core').Page} page
 * @param {string} base
 * @param {string} name
 */
export async function register(page, base, name) {
  await page.goto(`${base}/`);
  await page.getByTestId('register-name').fill(name);
  await page.getByTestId('register-submit').click();
  await page.getByTestId('me').filter({ hasText: name }).waitFor();
}

/**
 * Creates a room through the form; returns its id.
 * @param {import('playwright-core').Page} page
 * @param {string} name
 * @param {{topic?: string}} [opts]
 * @returns {Promise<string>}
 */
export async function createRoom(page, name, opts = {}) {
  await page.getByTestId('new-room').click();
  await page.getByTestId('create-name').fill(name);
  if (opts.topic) await page.getByTestId('create-topic').fill(opts.topic);
  await page.getByTestId('create-submit').click();
  await page.getByTestId('room-title').filter({ hasText: name }).waitFor();
  return roomOf(page);
}

/** @param {import('playwright-core').Page} page @returns {string} the open room's id */
export function roomOf(page) {
  const id = new URLSearchParams(new URL(page.url()).hash.slice(1)).get('room');
  if (!id) throw new Error(`no room open at ${page.url()}`);
  return id;
}

/**
 * Sends a message with the composer (Enter) and waits until it is listed.
 * @param {import('playwright-core').Page} page
 * @param {string} text
 */
export async function send(page, text) {
  await page.getByTestId('composer').fill(text);
  await page.getByTestId('composer').press('Enter');
  await message(page, text).waitFor();
}

/**
 * The listed message holding `text`.
 * @param {import('playwright-core').Page} page
 * @param {string} text
 */
export function message(page, text) {
  return page.getByTestId('message').filter({ hasText: text });
}

/**
 * Runs peerctl with `home` as its profile home; resolves with stdout, or
 * rejects with stderr on a non-zero exit.
 * @param {string} home
 * @param {string} node
 * @param {string[]} args
 * @param {Record<string, string>} [extraEnv]
 * @returns {Promise<string>}
 */
export function peerctl(home, node, args, extraEnv = {}) {
  /** @type {Record<string, string>} */
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('PEERCTL_')) env[k] = v;
  }
  Object.assign(env, { PEERCTL_HOME: home, HOME: home, PEERCTL_NODE: node }, extraEnv);
  delete env.XDG_CONFIG_HOME;
  return new Promise((ok, fail) => {
    execFile(PEERCTL, args, { env, timeout: 2 * PATIENCE }, (err, stdout, stderr) => {
      if (err) fail(new Error(`peerctl ${args.join(' ')}: ${err.message}\n${stderr}`));
      else ok(stdout);
    });
  });
}

/** A temporary directory (removed by the caller). */
export async function tempDir() {
  return mkdtemp(join(tmpdir(), 'peer-web-e2e-'));
}

/** Makes the screenshot directory; returns a file path in it. @param {string} name */
export async function shotPath(name) {
  await mkdir(SHOTS, { recursive: true });
  return join(SHOTS, name);
}

/**
 * True when the page is wider than its viewport (a horizontal scrollbar).
 * @param {import('playwright-core').Page} page
 */
export async function overflows(page) {
  return page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth || document.body.scrollWidth > window.innerWidth);
}
