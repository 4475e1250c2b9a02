// What the client does at the edges a tester found broken: answers and requests whose data is
// not JSON, close() with codes or reasons the WebSocket refuses, timeouts beyond what setTimeout
// holds, servers that accept and close at once, and answers ready after their connection went.
// They run against the simulated server (./sim-server.mjs) or a few-line `ws` server.

import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket, WebSocketServer } from 'ws';
import { Client, ClientError, ClosedError, EncodeError, MAX_TIMER_MS, RECONNECT_CODES, SLOW_CONSUMER, backoffDelay } from '../dist/index.js';
import { startSimServer } from './sim-server.mjs';
import { nextEvent, sleep, within } from './util.mjs';

const fast = { initialDelay: 20, maxDelay: 100, factor: 2, jitter: 0 };

/** A `ws` server that calls `onConnection(socket, n)` for its n-th connection (1-based) and
 * records what every connection received. */
async function startWsServer(onConnection) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.on('listening', r));
  const received = [];
  wss.on('connection', (socket) => {
    const n = received.push([]);
    socket.on('message', (raw) => received[n - 1].push(JSON.parse(String(raw))));
    onConnection(socket, n);
  });
  return {
    url: `ws://127.0.0.1:${wss.address().port}/`,
    received,
    connections: () => received.length,
    async stop() {
      for (const c of wss.clients) c.terminate();
      await new Promise((r) => wss.close(r));
    },
  };
}

/** Sends recorded on `client`'s current socket. */
function spy(client) {
  const frames = [];
  const send = client.socket.send.bind(client.socket);
  client.socket.send = (text) => {
    frames.push(JSON.parse(text));
    send(text);
  };
  return frames;
}

const unhandled = [];
const onUnhandled = (reason) => unhandled.push(reason);
process.on('unhandledRejection', onUnhandled);
after(() => process.off('unhandledRejection', onUnhandled));

describe('client edges', () => {
  let sim;
  const clients = [];
  const client = (url, options = {}) => {
    const c = new Client(url, { WebSocket, reconnect: fast, ...options });
    clients.push(c);
    return c;
  };
  before(async () => {
    sim = await startSimServer();
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.state !== 'closed' && c.close();
  });
  after(async () => {
    await sim.stop();
  });

  test('a handler answer that is not JSON (BigInt, circular) is refused with code "encode" and an error event, never an unhandled rejection', async () => {
    const asker = client(sim.url('enc1'));
    const big = client(sim.url('enc2'));
    const circular = client(sim.url('enc3'));
    for (const c of [asker, big, circular]) await within(c.request('room.join', { room: 'enc' }), 'room.join');
    asker.handle('poll.ask', () => ({ choice: 0 }));
    big.handle('poll.ask', async () => ({ choice: 1n }));
    circular.handle('poll.ask', () => {
      const o = { choice: 1 };
      o.self = o;
      return o;
    });
    const errors = [];
    for (const c of [big, circular]) c.onEvent('error', (e) => errors.push(e.error));
    const [bigSent, circularSent] = [spy(big), spy(circular)];
    const question = { room: 'enc', question: 'q', options: ['a', 'b'], timeout_ms: 3000 };
    const result = await within(asker.request('room.poll', question), 'the poll');
    assert.equal(result.refused, 2, JSON.stringify(result));
    assert.equal(result.unanswered, 0, JSON.stringify(result));
    for (const frames of [bigSent, circularSent]) {
      const [ack] = frames.filter((f) => f.cmd === '$ack');
      assert.equal(ack.error.code, 'encode', JSON.stringify(ack));
      assert.match(ack.error.message, /poll\.ask/);
    }
    assert.equal(errors.length, 2);
    for (const e of errors) assert.ok(e instanceof EncodeError && e.kind === 'encode', String(e));
    await sleep(20);
    assert.deepEqual(unhandled, []);
  });

  test('request() and send() with data that is not JSON fail with an EncodeError (a ClientError), sending nothing', async () => {
    const c = client(sim.url('enc4'));
    await within(c.opened(), 'open');
    const sent = spy(c);
    const err = await within(c.request('room.join', { room: 1n }).catch((e) => e), 'the rejection');
    assert.ok(err instanceof EncodeError && err instanceof ClientError, String(err));
    assert.equal(err.kind, 'encode');
    assert.equal(err.command, 'room.join');
    const loop = {};
    loop.loop = loop;
    assert.throws(() => c.send('room.leave', loop), (e) => e instanceof EncodeError && e.kind === 'encode');
    assert.deepEqual(sent, []);
    assert.deepEqual(await within(c.request('room.join', { room: 'enc-ok' }), 'room.join'), { room: 'enc-ok', members: ['enc4'] });
  });

  test('close() with a code or reason the WebSocket refuses throws a RangeError and changes nothing; a valid one ends the socket', async () => {
    const c = client(sim.url('close1'));
    await within(c.opened(), 'open');
    for (const [code, reason] of [[1006, ''], [1005, ''], [1001, ''], [2999, ''], [5000, ''], [3000.5, ''], [1000, 'y'.repeat(124)], [1000, 'é'.repeat(62)]]) {
      assert.throws(() => c.close(code, reason), RangeError, `close(${code}, ${reason.length} chars)`);
      assert.equal(c.state, 'open', `after close(${code})`);
    }
    assert.deepEqual(await within(c.request('room.join', { room: 'still' }), 'room.join'), { room: 'still', members: ['close1'] });
    const closed = nextEvent(c, 'close');
    const socket = c.socket;
    c.close(4001, 'é'.repeat(61)); // 122 bytes: allowed
    assert.deepEqual(await closed, { code: 4001, reason: 'é'.repeat(61), willReconnect: false });
    assert.equal(socket.readyState, WebSocket.CLOSED);
    assert.equal(c.state, 'closed');
  });

  test('close() while connecting ends the socket and what waited', async () => {
    const c = client(sim.url('close2'));
    const opened = c.opened().then(() => 'opened', (e) => e);
    const queued = c.request('room.join', { room: 'x' }).catch((e) => e);
    const socket = c.socket;
    const closed = nextEvent(c, 'close');
    c.close();
    assert.ok((await within(queued, 'the queued request')) instanceof ClosedError);
    assert.equal((await closed).willReconnect, false);
    assert.ok((await within(opened, 'opened()')) instanceof ClosedError);
    assert.equal(socket.readyState, WebSocket.CLOSED);
  });

  test('timeouts: Infinity is none, beyond 2^31-1 ms is clamped (never fires at once), not positive is a RangeError', async () => {
    const c = client(sim.url('time1'));
    await within(c.opened(), 'open');
    const outcomes = [];
    const never = [Infinity, 2 ** 31, 30 * 24 * 3600 * 1000].map((timeout) =>
      c.request('never.answers', {}, { timeout }).then(
        () => outcomes.push(`${timeout}: answered`),
        (e) => outcomes.push(`${timeout}: ${e.name}`),
      ),
    );
    await sleep(150);
    assert.deepEqual(outcomes, [], 'no request timed out');
    for (const timeout of [0, -1, NaN]) {
      await assert.rejects(c.request('never.answers', {}, { timeout }), RangeError, `timeout ${timeout}`);
    }
    const noDefault = client(sim.url('time2'), { requestTimeout: Infinity });
    let done = false;
    noDefault.request('never.answers', {}).then(() => (done = true), () => (done = true));
    await sleep(100);
    assert.equal(done, false);
    c.close();
    await Promise.all(never);
    assert.deepEqual(outcomes.map((o) => o.split(': ')[1]), ['ClosedError', 'ClosedError', 'ClosedError']);
  });

  test('options are checked when the client is made; backoff delays never exceed 2^31-1 ms', () => {
    const url = sim.url('opts');
    for (const options of [
      { requestTimeout: 0 },
      { requestTimeout: -5 },
      { queueLimit: -1 },
      { reconnect: { factor: 0.5 } },
      { reconnect: { jitter: 1.5 } },
      { reconnect: { jitter: -0.1 } },
      { reconnect: { initialDelay: -1 } },
      { reconnect: { initialDelay: Infinity } },
      { reconnect: { maxDelay: 0 } },
      { reconnect: { maxAttempts: 1.5 } },
      { reconnect: { stableAfter: -1 } },
    ]) {
      assert.throws(() => new Client(url, { WebSocket, ...options }), RangeError, JSON.stringify(options));
    }
    assert.equal(backoffDelay(100, { maxDelay: Infinity }, 0), MAX_TIMER_MS);
    assert.equal(backoffDelay(100, { maxDelay: 2 ** 40, factor: 10 }, 0), MAX_TIMER_MS);
  });

  test('maxAttempts ends a loop of a server that accepts and drops at once: only a connection that stays open resets the count', async () => {
    const server = await startWsServer((s) => s.close(1011, 'oops'));
    try {
      const c = client(server.url, { reconnect: { ...fast, maxAttempts: 3 } });
      const attempts = [];
      c.onEvent('reconnecting', (e) => attempts.push(e.attempt));
      const gaveUp = await nextEvent(c, 'close', (e) => !e.willReconnect);
      assert.deepEqual(gaveUp, { code: 1011, reason: 'oops', willReconnect: false, gaveUp: 'attempts' });
      assert.deepEqual(attempts, [1, 2, 3]);
      assert.equal(server.connections(), 4);
      assert.equal(c.state, 'closed');
    } finally {
      await server.stop();
    }
    // A connection that stayed open `stableAfter` ms was a success: the count starts again.
    const slow = await startWsServer((s) => setTimeout(() => s.close(1011), 60));
    try {
      const c = client(slow.url, { reconnect: { ...fast, maxAttempts: 1, stableAfter: 20 } });
      await within((async () => { while (slow.connections() < 4) await sleep(10); })(), '4 connections');
      assert.notEqual(c.state, 'closed');
    } finally {
      await slow.stop();
    }
  });

  test('close codes that mean "do not come back" (1008, 1003, 4000, 1000...) are not retried unless reconnectOn says so', async () => {
    assert.deepEqual([...RECONNECT_CODES].sort(), [1001, 1005, 1006, 1011, 1012, 1013, 1014]);
    for (const code of [1000, 1002, 1003, 1007, 1008, 1009, 4000, 4403]) {
      const server = await startWsServer((s) => setTimeout(() => s.close(code, 'go away'), 30));
      try {
        const c = client(server.url);
        const waiting = nextEvent(c, 'open').then(() => c.request('never.answers', {}, { timeout: 5000 }).catch((e) => e));
        const ev = await nextEvent(c, 'close');
        assert.deepEqual(ev, { code, reason: 'go away', willReconnect: false, gaveUp: 'code' });
        const err = await within(waiting, 'the pending request');
        assert.ok(err instanceof ClosedError, String(err));
        await sleep(80);
        assert.equal(server.connections(), 1, `close ${code}: no reconnect`);
        assert.equal(c.state, 'closed');
      } finally {
        await server.stop();
      }
    }
    // swoft-ws's own 1008 for a client that fell behind is retried by default.
    const slowServer = await startWsServer((s, n) => n < 2 && s.close(1008, SLOW_CONSUMER));
    try {
      const c = client(slowServer.url);
      await within((async () => { while (slowServer.connections() < 2) await sleep(10); })(), 'a reconnect after "slow consumer"');
      await within(c.opened(), 'open');
    } finally {
      await slowServer.stop();
    }
    const server = await startWsServer((s, n) => n < 3 && s.close(1008, 'banned'));
    try {
      const c = client(server.url, { reconnect: { ...fast, reconnectOn: [...RECONNECT_CODES, 1008] } });
      await within((async () => { while (server.connections() < 3) await sleep(10); })(), '3 connections');
      await within(c.opened(), 'open');
      const byFunction = client(server.url, { reconnect: { ...fast, reconnectOn: (code) => code !== 1008 } });
      await within(byFunction.opened(), 'open');
    } finally {
      await server.stop();
    }
  });

  test('an answer ready after its connection dropped is not sent on the next one (ack numbers are per connection)', async () => {
    const server = await startWsServer((s, n) => {
      if (n === 1) {
        s.send(JSON.stringify({ cmd: 'confirm', data: {}, ack: 1 }));
        setTimeout(() => s.terminate(), 50);
      }
    });
    try {
      const c = client(server.url);
      let answered = false;
      c.handle('confirm', async () => {
        await sleep(300);
        answered = true;
        return { ok: true };
      });
      await within((async () => { while (!answered) await sleep(10); })(), 'the handler');
      await sleep(100);
      assert.equal(server.connections(), 2, 'reconnected before the answer was ready');
      assert.deepEqual(server.received, [[], []]);
    } finally {
      await server.stop();
    }
  });
});
