// What the browser test and the screenshot script share: finding Chromium, building and running
// the real chat example (example.mjs), and launching headless Chromium through playwright-core.
//
// Chromium is Debian's `chromium` package (scripts/setup.sh installs it); playwright-core never
// downloads a browser here. Set CHROMIUM=/path/to/chrome to use another build.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export { ROOT, WAIT_MS, buildExample, startExample } from './example.mjs';

/** The Chromium executable to drive, or null when there is none. */
export function findChromium() {
  const candidates = [process.env.CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  return candidates.find((p) => p && existsSync(p)) ?? null;
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
