// What the browser test and the screenshot script share: finding Chromium, building and running
// the real chat example (example.mjs), and launching headless Chromium through playwright-core.
//
// Chromium is Debian's `chromium` package (scripts/setup.sh installs it); playwright-core never
// downloads a browser here. Set CHROMIUM=/path/to/chrome to use another build.

import { existsSync } from 'node:fs';
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
export async function launchBrowser(executablePath) {
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
    ],
  });
}
