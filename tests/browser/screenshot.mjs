// Regenerates docs/chat.png, the README's picture of the chat page in use: runs the real chat
// example, has a few headless Chromium pages chat in one room, and photographs one of them.
//
//   node tests/browser/screenshot.mjs            (from the repository root; needs chromium)
//
// SWOFT_WS_CHAT_URL=http://HOST:PORT/ photographs an example that is already running instead.

import { join } from 'node:path';
import { statSync } from 'node:fs';
import { ROOT, WAIT_MS, buildExample, findChromium, launchBrowser, startExample } from './harness.mjs';

const out = join(ROOT, 'docs', 'chat.png');
const chromiumPath = findChromium();
if (!chromiumPath) {
  console.error('screenshot: no Chromium found; install it with `apt-get install chromium`');
  process.exit(1);
}

let server;
if (process.env.SWOFT_WS_CHAT_URL) {
  server = { url: process.env.SWOFT_WS_CHAT_URL, stop: async () => {} };
} else {
  buildExample();
  server = await startExample();
}
const browser = await launchBrowser(chromiumPath);

try {
  const open = async (name, size = { width: 1100, height: 700 }) => {
    const context = await browser.newContext({ viewport: size, colorScheme: 'light' });
    context.setDefaultTimeout(WAIT_MS);
    const page = await context.newPage();
    await page.goto(server.url);
    await page.fill('#name', name);
    await page.fill('#room', 'lobby');
    await page.click('#join');
    await page.locator('#chat').waitFor();
    return page;
  };
  const say = async (page, text) => {
    await page.fill('#text', text);
    await page.press('#text', 'Enter');
    await page.locator('#log .entry.own:not(.pending)').last().waitFor();
  };
  const lastOf = (page, n) => page.waitForFunction((k) => document.querySelectorAll('#log .entry').length >= k, n);

  const alice = await open('alice');
  const bob = await open('bob');
  const carol = await open('carol');
  await say(bob, 'Morning! Is the deploy still on for ten?');
  await say(alice, 'Yes: the release branch is cut, CI is green.');
  await say(carol, 'I will watch the dashboards while it rolls out.');
  await bob.click('[data-testid=member][data-name=alice]');
  await say(bob, 'Can you ping me when it is done? I am in a meeting until 11.');
  await bob.click('#whisper-clear');
  const dave = await open('dave');
  await say(dave, 'Hi all, just lurking.');
  await dave.context().close();
  await say(alice, 'Rolling out now. Thanks, everyone!');
  await lastOf(alice, 9);
  await alice.fill('#text', 'Done — all green');
  await alice.screenshot({ path: out, type: 'png' });
  console.log(`wrote ${out} (${Math.round(statSync(out).size / 1024)} KB)`);
} finally {
  await browser.close();
  await server.stop();
}
