// @ts-check
// Test support: the real `peerd` and `peerctl` binaries, when the test run
// names them (PEER_TEST_PEERD, PEER_TEST_PEERCTL; scripts/test sets both to
// $CARGO_TARGET_DIR/debug/...). Without them the tests that need them skip
// with a notice, except under CI=true, where they fail: CI must run them.
// Nothing here builds anything.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';

const CI = process.env.CI === 'true' || process.env.CI === '1';

/**
 * The binary named by `variable`, or null (the caller skips) — or a failure under CI.
 * @param {string} variable
 * @returns {string|null}
 */
export function binary(variable) {
  const path = process.env[variable];
  if (path && existsSync(path)) return path;
  if (path) throw new Error(`${variable}=${path} does not exist`);
  if (CI) throw new Error(`${variable} is not set, but CI=true: scripts/test sets it to the built binary`);
  console.log(`NOTICE: ${variable} not set: SKIPPING the tests that need it`);
  return null;
}

/** Bounded waits for "eventually" checks (generous: a loaded 2-core machine). */
export const PATIENCE_MS = 60000;

/**
 * Starts `peerd --ephemeral --discovery off --listen 127.0.0.1:0` and reads
 * its URL from the first stdout line.
 * @param {string} path
 * @returns {Promise<{url: string, stop: () => Promise<void>}>}
 */
export async function startPeerd(path) {
  /** @type {Record<string, string>} */
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PEERD_') && v !== undefined) env[k] = v;
  const child = spawn(path, [
    '--ephemeral', '--discovery', 'off', '--listen', '127.0.0.1:0', '--handshake-rate', '1000', '--log-level', 'warn',
  ], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: /** @type {import('node:stream').Readable} */ (child.stdout) });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('peerd printed no listening line')), PATIENCE_MS);
    lines.once('line', (line) => {
      clearTimeout(timer);
      if (line.startsWith('listening on ')) resolve(line.slice('listening on '.length).trim());
      else reject(new Error(`unexpected first line ${JSON.stringify(line)}`));
    });
    child.once('exit', (code) => reject(new Error(`peerd exited (${code})`)));
  });
  // Keep draining stdout so peerd never blocks on a full pipe.
  lines.on('line', () => {});
  return {
    url,
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    }),
  };
}

/**
 * Runs a binary to the end (bounded), returning its exit code and output.
 * @param {string} path
 * @param {string[]} args
 * @param {Record<string, string>} [env]
 * @returns {Promise<{code: number|null, stdout: string, stderr: string}>}
 */
export function run(path, args, env = {}) {
  return new Promise((resolve, reject) => {
    /** @type {Record<string, string>} */
    const base = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PEERCTL_') && v !== undefined) base[k] = v;
    const child = spawn(path, args, { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${path} ${args.join(' ')} did not finish`)); }, PATIENCE_MS);
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

/**
 * Polls `check` until it returns a truthy value (bounded).
 * @template T
 * @param {string} what
 * @param {() => Promise<T>} check
 * @returns {Promise<T>}
 */
export async function eventually(what, check) {
  const deadline = Date.now() + PATIENCE_MS;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
