// Building and running the real chat example, for the browser test and the client's tests
// (clients/typescript/test/): no dependency beyond Node.

import { spawn, spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Every wait in these tests: long enough for a slow machine, short enough to fail fast. */
export const WAIT_MS = 10_000;

const BUILD_TIMEOUT_MS = 20 * 60_000; // the target dir is shared; cargo may wait for its lock
const START_TIMEOUT_MS = 30_000;

/** Builds the chat example (a no-op when it is up to date). Throws with cargo's output on failure. */
export function buildExample() {
  const r = spawnSync('cargo', ['build', '-q', '-p', 'swoft-ws-examples', '--example', 'chat'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: BUILD_TIMEOUT_MS,
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  if (r.error) throw new Error(`cargo build of the chat example failed: ${r.error.message}`);
  if (r.status !== 0) {
    throw new Error(`cargo build of the chat example failed (exit ${r.status}):\n${r.stderr}`);
  }
}

/**
 * Runs target/debug/examples/chat on `addr` (a free port of 127.0.0.1 by default), with `env` added
 * to its environment (e.g. SWOFT_WS_TLS_CERT/KEY), and resolves to `{ addr, url, stop(), logs() }`
 * once it prints `listening on ws://ADDR` (url `http://ADDR/`) or `listening on wss://ADDR` (url
 * `https://ADDR/`).
 */
export function startExample(addr = '127.0.0.1:0', env = {}) {
  const target = resolve(ROOT, process.env.CARGO_TARGET_DIR || 'target');
  const bin = join(target, 'debug', 'examples', 'chat');
  const child = spawn(bin, [], {
    cwd: ROOT,
    env: { ...process.env, SWOFT_WS_ADDR: addr, RUST_LOG: process.env.RUST_LOG ?? 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const keep = (chunk) => {
    log = (log + chunk).slice(-20_000); // the tail is what helps when a test fails
  };
  child.stderr.setEncoding('utf8').on('data', keep);
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);

  const exited = new Promise((res) => child.once('exit', (code, signal) => res({ code, signal })));

  const stop = async () => {
    process.off('exit', killOnExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(t);
  };

  return new Promise((resolveStart, rejectStart) => {
    const fail = async (why) => {
      await stop();
      rejectStart(new Error(`${why}\n--- chat example output ---\n${log}`));
    };
    const timer = setTimeout(
      () => fail(`the chat example printed no "listening on" line within ${START_TIMEOUT_MS / 1000} s`),
      START_TIMEOUT_MS,
    );
    child.once('error', (e) => {
      clearTimeout(timer);
      fail(`could not run ${bin}: ${e.message}`);
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      fail(`the chat example exited before listening (code ${code}, signal ${signal})`);
    });
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => {
      clearTimeout(timer);
      const m = /^listening on (wss?):\/\/(\S+)$/.exec(line.trim());
      if (!m) {
        fail(`unexpected first line from the chat example: ${JSON.stringify(line)}`);
        return;
      }
      lines.on('line', keep); // keep draining stdout
      const scheme = m[1] === 'wss' ? 'https' : 'http';
      resolveStart({ addr: m[2], url: `${scheme}://${m[2]}/`, stop, logs: () => log, exited });
    });
  });
}
