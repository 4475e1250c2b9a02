// The chat page once over TLS: the real chat example started with SWOFT_WS_TLS_CERT/KEY (a
// self-signed certificate made here with openssl) serves the page over https, and the page's
// WebSocket goes over wss. Chromium is told to accept the self-signed certificate
// (--ignore-certificate-errors, and playwright's ignoreHTTPSErrors for the context).
//
//   node --test tests/browser/          (from the repository root; `bash scripts/test.sh` runs it)
//
// Needs Debian's chromium and openssl (scripts/setup.sh installs them). Without Chromium the
// test fails when CI=true and is skipped, loudly, elsewhere. Every wait times out after WAIT_MS.

import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import {
  WAIT_MS, buildExample, findChromium, launchBrowser, selfSignedCert, startExample,
} from './harness.mjs';

const chromiumPath = findChromium();
let skip = false;
if (!chromiumPath) {
  const why = 'no Chromium found; install it with `apt-get install chromium` or run `bash scripts/setup.sh`';
  skip = `SKIPPED: ${why}`;
  if (process.env.CI === 'true') {
    test('Chromium is installed (required when CI=true)', () => assert.fail(why));
  } else {
    console.error(`\n!!! browser tests ${skip}\n`);
  }
}

describe('the chat page over https and wss in headless Chromium', { skip }, () => {
  let server;
  let browser;
  let tls;

  before(async () => {
    tls = selfSignedCert();
    buildExample();
    server = await startExample('127.0.0.1:0', {
      SWOFT_WS_TLS_CERT: tls.cert,
      SWOFT_WS_TLS_KEY: tls.key,
    });
    browser = await launchBrowser(chromiumPath, ['--ignore-certificate-errors']);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    if (tls) rmSync(tls.dir, { recursive: true, force: true });
  });

  test('two pages join a room over wss and chat', async () => {
    assert.match(server.url, /^https:\/\//, 'the example printed `listening on wss://ADDR`');
    const errors = [];
    const open = async (label) => {
      const context = await browser.newContext({ ignoreHTTPSErrors: true });
      context.setDefaultTimeout(WAIT_MS);
      const page = await context.newPage();
      page.on('pageerror', (e) => errors.push(`${label}: ${e.message}`));
      const sockets = [];
      page.on('websocket', (ws) => sockets.push(ws.url()));
      const res = await page.goto(server.url, { timeout: WAIT_MS });
      assert.equal(res.status(), 200, `GET ${server.url}`);
      return { page, sockets };
    };
    const join = async (page, name) => {
      await page.fill('[data-testid=name]', name);
      await page.fill('[data-testid=room]', 'secure');
      await page.click('[data-testid=join]');
      await page.locator('[data-testid=chat]').waitFor({ state: 'visible', timeout: WAIT_MS });
    };
    const alice = await open('alice');
    const bob = await open('bob');
    await join(alice.page, 'alice');
    await join(bob.page, 'bob');
    assert.match(alice.sockets[0] ?? '', /^wss:\/\/127\.0\.0\.1:\d+\/chat\?/, 'the page speaks wss');

    await alice.page.fill('[data-testid=text]', 'hello over TLS');
    await alice.page.press('[data-testid=text]', 'Enter');
    const got = bob.page
      .locator('[data-testid=entry][data-kind="message"]')
      .filter({ hasText: 'hello over TLS' });
    await got.first().waitFor({ state: 'visible', timeout: WAIT_MS });
    assert.equal(await got.first().getAttribute('data-from'), 'alice');

    await alice.page.context().close();
    await bob.page.context().close();
    assert.deepEqual(errors, []);
  });
});
