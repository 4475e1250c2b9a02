// The client against the REAL chat example binary (what main serves today): request/reply,
// pushes, error replies, a server restart with requests queued meanwhile, the backoff bounds,
// the wait queue's bound and timeouts, close().

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { buildExample, startExample } from '../../../tests/browser/example.mjs';
import { Client, ClosedError, RequestError, TimeoutError, backoffDelay } from '../dist/index.js';
import { collect, nextEvent, within } from './util.mjs';

describe('swoft-ws-client against the chat example', () => {
  let example;
  const clients = [];
  const client = (name, options = {}) => {
    const c = new Client(`ws://${example.addr}/chat?name=${name}`, { WebSocket, ...options });
    clients.push(c);
    return c;
  };

  before(async () => {
    buildExample();
    example = await startExample();
  });
  after(async () => {
    for (const c of clients) c.close();
    await example?.stop();
  });

  test('request resolves to the reply data; pushes reach on() handlers; unsubscribe stops them', async () => {
    const alice = client('alice');
    const bob = client('bob');
    assert.deepEqual(await within(alice.request('room.join', { room: 'lobby' }), 'room.join'), {
      room: 'lobby',
      members: ['alice'],
    });
    const joined = collect(alice, 'room.joined');
    assert.deepEqual(await within(bob.request('room.join', { room: 'lobby' }), 'room.join'), {
      room: 'lobby',
      members: ['alice', 'bob'],
    });
    assert.deepEqual((await joined.next(1))[0], { room: 'lobby', name: 'bob' });

    const messages = collect(alice, 'room.message');
    let seen = 0;
    const off = alice.on('room.message', () => seen++);
    assert.deepEqual(await within(bob.request('room.send', { room: 'lobby', text: 'hi' }), 'room.send'), { delivered: 1 });
    assert.deepEqual((await messages.next(1))[0], { room: 'lobby', from: 'bob', text: 'hi' });
    off();
    await within(bob.request('room.send', { room: 'lobby', text: 'again' }), 'room.send');
    await messages.next(2);
    assert.equal(seen, 1, 'the unsubscribed handler saw only the first');
  });

  test("error replies reject with a RequestError carrying the server's code and message", async () => {
    const carol = client('carol');
    const forbidden = await within(carol.request('room.send', { room: 'nowhere', text: 'x' }).catch((e) => e), 'the error');
    assert.ok(forbidden instanceof RequestError, String(forbidden));
    assert.equal(forbidden.code, 'forbidden');
    assert.equal(forbidden.message, 'join the room first');
    assert.equal(forbidden.command, 'room.send');
    const invalid = await within(carol.request('room.join', { room: '' }).catch((e) => e), 'the error');
    assert.equal(invalid.code, 'invalid_data');
    const unknown = await within(carol.request('room.dance', {}).catch((e) => e), 'the error');
    assert.equal(unknown.code, 'unknown_command');
    // The connection goes on.
    assert.deepEqual(await within(carol.request('room.members', { room: 'empty' }), 'room.members'), { room: 'empty', members: [] });
  });

  test('a server restart: close, reconnecting with bounded delays, requests queued meanwhile go out after the reconnect', async () => {
    const policy = { initialDelay: 40, maxDelay: 160, factor: 2, jitter: 0.5 };
    const dave = client('dave', { reconnect: policy, queueLimit: 3 });
    await within(dave.opened(), 'open');
    const attempts = [];
    dave.onEvent('reconnecting', (ev) => attempts.push(ev));
    const closed = nextEvent(dave, 'close');
    const addr = example.addr;
    await example.stop();
    const ev = await closed;
    assert.equal(ev.willReconnect, true);
    assert.equal(ev.code, 1001, 'the draining server says it is going away');

    const queued = dave.request('room.join', { room: 'after' }, { timeout: 20_000 });
    const expires = dave.request('room.join', { room: 'expires' }, { timeout: 50 });
    await assert.rejects(within(expires, 'the queued timeout'), TimeoutError);
    dave.request('room.members', { room: 'x' }, { timeout: 20_000 }).catch(() => {});
    dave.request('room.members', { room: 'y' }, { timeout: 20_000 }).catch(() => {});
    await assert.rejects(dave.request('room.members', { room: 'z' }), ClosedError, 'a full queue refuses at once');

    // Let a few attempts fail, then bring the server back on the same address.
    await within(
      (async () => {
        while (attempts.length < 4) await new Promise((r) => setTimeout(r, 10));
      })(),
      '4 reconnect attempts',
    );
    const reopened = nextEvent(dave, 'open', (e) => e.reconnect, 30_000);
    example = await startExample(addr);
    await reopened;
    assert.deepEqual(await within(queued, 'the queued request'), { room: 'after', members: ['dave'] });
    for (const { attempt, delay } of attempts) {
      const base = Math.min(policy.maxDelay, policy.initialDelay * 2 ** (attempt - 1));
      assert.ok(delay >= base * (1 - policy.jitter) - 1 && delay <= base, `attempt ${attempt}: ${delay} ms not in [${base / 2}, ${base}]`);
    }
    assert.deepEqual(
      attempts.slice(0, 4).map((a) => a.attempt),
      [1, 2, 3, 4],
    );
  });

  test('close() rejects what is out and ends the client', async () => {
    const erin = client('erin');
    await within(erin.opened(), 'open');
    const closed = nextEvent(erin, 'close');
    erin.close();
    assert.equal((await closed).willReconnect, false);
    assert.equal(erin.state, 'closed');
    await assert.rejects(erin.request('room.join', { room: 'x' }), ClosedError);
    assert.throws(() => erin.send('room.leave', { room: 'x' }), ClosedError);
  });
});

test('backoff delays grow by the factor, stop at the maximum, and jitter only shortens them', () => {
  const o = { initialDelay: 100, maxDelay: 1000, factor: 2, jitter: 0.5 };
  assert.deepEqual([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, o, 0)), [100, 200, 400, 800, 1000, 1000]);
  assert.deepEqual([1, 2, 5].map((a) => backoffDelay(a, o, 0.999999)), [50, 100, 500]);
  for (let i = 0; i < 1000; i++) {
    const attempt = 1 + (i % 12);
    const d = backoffDelay(attempt, o);
    const base = Math.min(1000, 100 * 2 ** (attempt - 1));
    assert.ok(d >= base / 2 && d <= base, `${d} for attempt ${attempt}`);
  }
  assert.equal(backoffDelay(1, {}, 0), 250, 'the default first delay');
  assert.ok(backoffDelay(50, {}, 0) === 10_000, 'the default maximum');
});
