// What the browser test and the screenshot script share: finding Chromium, building and running
// the real chat example, and launching headless Chromium through playwright-core.
//
// Chromium is Debian's `chromium` package (scripts/setup.sh installs it); playwright-core never
// downloads a browser here. Set CHROMIUM=/path/to/chrome to use another build.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Every wait in these tests: long enough for a slow machine, short enough to fail fast. */
export const WAIT_MS = 10_000;

const BUILD_TIMEOUT_MS = 20 * 60_000; // the target dir is shared; cargo may wait for its lock
const START_TIMEOUT_MS = 30_000;

/** The Chromium executable to drive, or null when there is none. */
export function findChromium() {
  const candidates = [process.env.CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  return candidates.find((p) => p && existsSync(p)) ?? null;
}

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

/**
 * Headless Chromium with the flags this machine needs (root, closed network). playwright-core's
 * launch gives it a fresh temporary --user-data-dir and deletes it on close.
 */
export async function launchBrowser(executablePath, extraArgs = []) {
  return chromium.launch({
    executablePath,
    headless: true,
    timeout: 30_000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
      ...extraArgs,
    ],
  });
}

/**
 * A self-signed certificate for 127.0.0.1 and localhost, made with the `openssl` command in a
 * fresh temporary directory: `{ dir, cert, key }` (PEM paths). Throws with openssl's output on
 * failure.
 */
export function selfSignedCert() {
  const dir = mkdtempSync(join(tmpdir(), 'swoft-ws-browser-tls-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  const r = spawnSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', key, '-out', cert,
  ], { encoding: 'utf8', timeout: 30_000 });
  if (r.error || r.status !== 0) {
    throw new Error(`openssl could not make a certificate: ${r.error?.message ?? r.stderr}`);
  }
  return { dir, cert, key };
}
