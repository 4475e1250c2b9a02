// End-to-end test of the chat example's page (examples/chat/static/index.html): two real headless
// Chromium pages pick names, join one room, see each other in the members list, chat, whisper,
// poll the room, and see each other leave. The page talks through swoft-ws-client
// (clients/typescript, served by the example as /swoft-ws-client.js). The test builds and runs
// the real example binary itself.
//
//   node --test tests/browser/          (from the repository root; `bash scripts/test.sh` runs it)
//
// Needs Debian's chromium (scripts/setup.sh installs it). Without it the test fails when CI=true
// and is skipped, loudly, elsewhere. Every wait times out after WAIT_MS.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WAIT_MS, buildExample, findChromium, launchBrowser, startExample } from './harness.mjs';

const chromiumPath = findChromium();
const inCI = process.env.CI === 'true';
let skip = false;
if (!chromiumPath) {
  const why = 'no Chromium found (looked at $CHROMIUM, /usr/bin/chromium, /usr/bin/chromium-browser); ' +
    'install it with `apt-get install chromium` or run `bash scripts/setup.sh`';
  skip = `SKIPPED: ${why}`;
  if (inCI) {
    test('Chromium is installed (required when CI=true)', () => assert.fail(why));
  } else {
    console.error(`\n!!! browser tests ${skip}\n`);
  }
}

/** The names in a page's members list, in order. */
const membersOf = (page) =>
  page.$$eval('[data-testid=member]', (lis) => lis.map((li) => li.dataset.name));

/** Waits until the members list is exactly `names`; fails with what it showed instead. */
async function expectMembers(page, names) {
  try {
    await page.waitForFunction(
      (want) => [...document.querySelectorAll('[data-testid=member]')]
        .map((li) => li.dataset.name).join('\n') === want.join('\n'),
      names,
      { timeout: WAIT_MS },
    );
  } catch (e) {
    assert.fail(`members list: expected ${JSON.stringify(names)}, ` +
      `showed ${JSON.stringify(await membersOf(page))} after ${WAIT_MS} ms (${e.message.split('\n')[0]})`);
  }
  assert.equal(await page.textContent('[data-testid=member-count]'), String(names.length));
}

/** The log entry of `kind` (message, own, whisper-in, whisper-out, system, error) containing `text`. */
const entry = (page, kind, text) =>
  page.locator(`[data-testid=entry][data-kind="${kind}"]`).filter({ hasText: text });

async function expectEntry(page, kind, text) {
  const loc = entry(page, kind, text);
  try {
    await loc.first().waitFor({ state: 'visible', timeout: WAIT_MS });
  } catch {
    const log = await page.$$eval('[data-testid=entry]', (es) => es.map((e) => `${e.dataset.kind}: ${e.textContent}`));
    assert.fail(`no ${kind} entry with ${JSON.stringify(text)} within ${WAIT_MS} ms; the log:\n  ${log.join('\n  ')}`);
  }
  return loc.first();
}

describe('the chat page in headless Chromium', { skip }, () => {
  let server; // the running example, or { url } of one given by SWOFT_WS_CHAT_URL
  let browser;
  const pageErrors = [];

  before(async () => {
    if (process.env.SWOFT_WS_CHAT_URL) {
      server = { url: process.env.SWOFT_WS_CHAT_URL, stop: async () => {}, logs: () => '' };
    } else {
      buildExample();
      server = await startExample();
    }
    browser = await launchBrowser(chromiumPath);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  /** A fresh browser context (its own storage) with the page open at the example's `/`. */
  async function openPage(label) {
    const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
    context.setDefaultTimeout(WAIT_MS);
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(`${label}: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(`${label} console: ${m.text()}`);
    });
    const res = await page.goto(server.url, { timeout: WAIT_MS });
    assert.equal(res.status(), 200, `GET ${server.url}`);
    assert.match(res.headers()['content-type'] ?? '', /text\/html/);
    return page;
  }

  async function join(page, name, room) {
    await page.fill('[data-testid=name]', name);
    await page.fill('[data-testid=room]', room);
    await page.click('[data-testid=join]');
    await page.locator('[data-testid=chat]').waitFor({ state: 'visible', timeout: WAIT_MS });
    assert.equal(await page.textContent('[data-testid=room-name]'), room);
    assert.equal(await page.textContent('[data-testid=me]'), name);
    // The page talks through swoft-ws-client (served at /swoft-ws-client.js), not a socket of
    // its own.
    const through = await page.evaluate(() => {
      const chat = window.swoftWsChat;
      return Boolean(chat && chat.client instanceof chat.Client && chat.client.state === 'open');
    });
    assert.ok(through, "the page's connection is an open swoft-ws-client Client");
  }

  async function send(page, text) {
    await page.fill('[data-testid=text]', text);
    await page.press('[data-testid=text]', 'Enter');
  }

  test('a name that the server would refuse is refused on the page, with a clear message', async () => {
    const page = await openPage('validation');
    for (const bad of ['', 'has space', 'a.b', 'émile', '<b>']) {
      await page.fill('[data-testid=name]', bad);
      await page.click('[data-testid=join]');
      const err = page.locator('[data-testid=login-error]');
      await err.waitFor({ state: 'visible', timeout: WAIT_MS });
      assert.match(await err.textContent(), bad ? /1–32 characters/ : /Pick a name/);
      assert.equal(await page.locator('[data-testid=chat]').isVisible(), false);
    }
    await page.fill('[data-testid=name]', 'ok_name');
    await page.fill('[data-testid=room]', '');
    await page.click('[data-testid=join]');
    assert.match(await page.textContent('[data-testid=login-error]'), /room name is 1–64/);
    await page.context().close();
  });

  test('two people join one room, see each other, chat, whisper, and one leaves', async () => {
    const alice = await openPage('alice');
    const bob = await openPage('bob');

    await join(alice, 'alice', 'lobby');
    await expectMembers(alice, ['alice']);
    await expectEntry(alice, 'system', 'You joined #lobby as alice');

    await join(bob, 'bob', 'lobby');
    await expectMembers(bob, ['alice', 'bob']);
    await expectMembers(alice, ['alice', 'bob']); // a live update: room.joined
    await expectEntry(alice, 'system', 'bob joined');

    // alice → room: bob gets it from alice; alice sees her own message, delivered to 1.
    await send(alice, 'Hello from alice <b>not bold</b>');
    const got = await expectEntry(bob, 'message', 'Hello from alice <b>not bold</b>');
    assert.equal(await got.getAttribute('data-from'), 'alice');
    assert.equal(await bob.locator('[data-testid=log] b').count(), 0, 'user text is never HTML');
    const mine = await expectEntry(alice, 'own', 'Hello from alice');
    await alice.waitForFunction((el) => el.dataset.delivered === '1', await mine.elementHandle(),
      { timeout: WAIT_MS });

    // bob → room
    await send(bob, 'Hi alice, bob here');
    await expectEntry(alice, 'message', 'Hi alice, bob here');
    await expectEntry(bob, 'own', 'Hi alice, bob here');
    assert.equal(await entry(bob, 'message', 'Hi alice, bob here').count(), 0, 'no echo of one\'s own');

    // bob whispers to alice by clicking her in the members list.
    await bob.click('[data-testid=member][data-name=alice]');
    await bob.locator('[data-testid=whisper-target]').waitFor({ state: 'visible', timeout: WAIT_MS });
    await send(bob, 'psst, just you');
    await expectEntry(alice, 'whisper-in', 'psst, just you');
    await expectEntry(bob, 'whisper-out', 'psst, just you');
    await bob.click('#whisper-clear');

    // A whisper to nobody shows the server's not_found.
    await send(alice, '/w nobody_here are you there?');
    await expectEntry(alice, 'error', 'Nobody called nobody_here');

    // bob leaves: alice sees him go.
    await bob.click('[data-testid=leave]');
    await bob.locator('[data-testid=login]').waitFor({ state: 'visible', timeout: WAIT_MS });
    await expectMembers(alice, ['alice']);
    await expectEntry(alice, 'system', 'bob left');

    // bob comes back and then closes his tab: a disconnect is a leave too.
    await join(bob, 'bob', 'lobby');
    await expectMembers(alice, ['alice', 'bob']);
    await bob.context().close();
    await expectMembers(alice, ['alice']);
    assert.equal(await entry(alice, 'system', 'bob left').count(), 2);

    await alice.context().close();
  });

  test('a /poll asks everyone in the room on their page, and the asker sees the tallies', async () => {
    const carol = await openPage('carol');
    const dan = await openPage('dan');
    await join(carol, 'carol', 'polls');
    await join(dan, 'dan', 'polls');
    await expectMembers(carol, ['carol', 'dan']);

    // room.poll: the server asks both pages `poll.ask` (the asker's too); dan votes, carol skips.
    await send(carol, '/poll Lunch? | pizza | sushi');
    await expectEntry(carol, 'system', 'You asked the room: Lunch?');
    const asked = await expectEntry(dan, 'poll', 'Lunch?');
    assert.match(await asked.textContent(), /carol asks/);
    await asked.locator('[data-testid=poll-option]').filter({ hasText: 'sushi' }).click();
    await expectEntry(dan, 'poll', 'you chose sushi');
    const own = await expectEntry(carol, 'poll', 'Lunch?');
    await own.locator('[data-testid=poll-skip]').click();
    await expectEntry(carol, 'poll-result', 'Poll “Lunch?”: pizza: 0 · sushi: 1 · 1 refused · 0 unanswered');

    // A poll needs two options: said on the page, nothing sent.
    await send(carol, '/poll Just one? | yes');
    await expectEntry(carol, 'error', 'To poll the room');
    await carol.context().close();
    await dan.context().close();
  });

  test('when the server goes away the page says so, and reconnects when it is back', async (t) => {
    if (process.env.SWOFT_WS_CHAT_URL) {
      t.skip('SWOFT_WS_CHAT_URL is set: this test stops and restarts the server it started');
      return;
    }
    const carol = await openPage('carol');
    await join(carol, 'carol', 'lobby');
    await server.stop();
    const banner = carol.locator('[data-testid=banner]');
    await banner.waitFor({ state: 'visible', timeout: WAIT_MS });
    assert.match(await banner.textContent(), /Connection lost/);
    assert.equal(await carol.isDisabled('[data-testid=send]'), true);

    // While the server is down a reconnect fails, and says so.
    await carol.click('[data-testid=reconnect]');
    await carol.waitForFunction(
      () => /Could not connect/.test(document.querySelector('[data-testid=banner]').textContent),
      null, { timeout: WAIT_MS });

    // The server is back on the same address: reconnecting rejoins the room.
    server = await startExample(server.addr);
    await carol.click('[data-testid=reconnect]');
    await banner.waitFor({ state: 'hidden', timeout: WAIT_MS });
    await expectEntry(carol, 'system', 'Reconnected to #lobby');
    await expectMembers(carol, ['carol']);
    await send(carol, 'back again');
    const mine = await expectEntry(carol, 'own', 'back again');
    await carol.waitForFunction((el) => el.dataset.delivered === '0', await mine.elementHandle(),
      { timeout: WAIT_MS });

    // The failed reconnect is an expected console error of the browser; no other error counts.
    for (let i = pageErrors.length - 1; i >= 0; i--) {
      if (pageErrors[i].startsWith('carol console: WebSocket connection')) pageErrors.splice(i, 1);
    }
    await carol.context().close();
  });

  test('the pages raised no script errors', () => {
    assert.deepEqual(pageErrors, []);
  });
});
