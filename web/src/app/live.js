// @ts-check
/**
 * @file Live updates: the user's event stream (resumed with
 * `Last-Event-ID` after a drop), and while it is down, long-polls of the
 * open room, reconnecting with backoff (0.5 s doubling to 15 s). Every
 * event goes through the app, which does the agent's key duties first.
 */

/** @typedef {import('./app.js').App} App */

/** @param {number} ms @param {AbortSignal} signal */
function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve(undefined);
    }, { once: true });
  });
}

export class Live {
  /** @param {App} app */
  constructor(app) {
    this.app = app;
    this.abort = new AbortController();
    /** @type {number|null} */
    this.lastEventId = null;
  }

  start() {
    this.run().catch((e) => this.app.setStatus(`live updates stopped: ${String(e)}`, 'error'));
  }

  stop() {
    this.abort.abort();
  }

  async run() {
    const signal = this.abort.signal;
    let backoff = 500;
    while (!signal.aborted) {
      try {
        const stream = await this.app.need().events({ lastEventId: this.lastEventId, signal });
        backoff = 500;
        await this.app.onOnline();
        for await (const ev of stream) {
          if (signal.aborted) break;
          if (stream.lastEventId !== null) this.lastEventId = stream.lastEventId;
          try {
            await this.app.onEvent(ev);
          } catch (e) {
            this.app.setStatus(`could not handle an event: ${String(e)}`, 'warn');
          }
        }
      } catch (e) {
        if (signal.aborted) break;
        this.app.setStatus('offline: reconnecting (long-polling meanwhile)', 'warn');
      }
      await this.pollFor(backoff, signal);
      backoff = Math.min(backoff * 2, 15000);
    }
  }

  /**
   * Long-polls the open room for `ms` milliseconds (or just waits, with
   * no room open).
   * @param {number} ms
   * @param {AbortSignal} signal
   */
  async pollFor(ms, signal) {
    const until = Date.now() + ms;
    while (!signal.aborted && Date.now() < until) {
      const chat = this.app.chat;
      const left = until - Date.now();
      if (!chat || chat.closed || left < 1000) {
        await sleep(left, signal);
        continue;
      }
      try {
        await chat.poll(Math.max(1, Math.min(25, Math.floor(left / 1000))), signal);
      } catch {
        await sleep(Math.min(left, 1000), signal);
      }
    }
  }
}
