// Resumable sessions and server→client requests (issue 16's wire) through the client.
//
// They run against a simulated server (./sim-server.mjs) that speaks the wire and lets
// a test expire sessions and shorten history, and against the real chat example (`/chat` opts
// in to recovery), where the dropped-connection resume and the server's requests (its
// `room.poll` asks every member `poll.ask`) run.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { Client, RequestError, TimeoutError } from '../dist/index.js';
import { startSimServer } from './sim-server.mjs';
import { collect, nextEvent, within } from './util.mjs';

// Which servers the suite runs against: both by default; SWOFT_WS_SESSION_SERVER=chat or
// =simulated for one. Against the chat example only the tests its server can drive are
// registered (it cannot expire sessions, shorten history, count sessions or leave a request
// unanswered).
const KINDS = process.env.SWOFT_WS_SESSION_SERVER
  ? [process.env.SWOFT_WS_SESSION_SERVER]
  : ['simulated', 'chat'];

/** The real chat example as a session server: pushes through its HTTP route. */
async function startChatServer() {
  const { buildExample, startExample } = await import('../../../tests/browser/example.mjs');
  buildExample();
  const ex = await startExample();
  return {
    kind: 'chat',
    url: (name) => `ws://${ex.addr}/chat?name=${name}`,
    async push(room, text) {
      const res = await fetch(`http://${ex.addr}/rooms/${room}/messages`, { method: 'POST', body: text });
      assert.equal(res.status, 200, await res.text());
    },
    drop(client) {
      client.socket.terminate();
    },
    stop: () => ex.stop(),
  };
}

const fast = { initialDelay: 20, maxDelay: 200, factor: 2, jitter: 0.5 };

for (const KIND of KINDS) describe(`resumable sessions and server requests (issue-16 wire, ${KIND} server)`, () => {
  // The tests that need more of the server than the chat example offers run on the simulated one.
  const full = KIND === 'simulated';
  const only = (name, fn) => (full ? test(name, fn) : undefined);
  let server;
  const clients = [];
  const client = (name, options = {}) => {
    const c = new Client(server.url(name), { WebSocket, reconnect: fast, ...options });
    clients.push(c);
    return c;
  };

  before(async () => {
    server = KIND === 'chat' ? await startChatServer() : await startSimServer();
  });
  after(async () => {
    for (const c of clients) c.close();
    await server?.stop();
  });

  test('a dropped connection resumes with nothing lost: every push missed, in order, once, then live ones', async () => {
    // Reconnecting after 1 s (no jitter): the 50 pushes below, a few ms each over loopback, are
    // all sent while it is away, so all 50 are missed and replayed.
    const alice = client('alice', { reconnect: { ...fast, initialDelay: 1000, maxDelay: 1000, jitter: 0 } });
    const first = nextEvent(alice, 'open');
    await within(alice.request('room.join', { room: 'r1' }), 'room.join');
    await first;
    const messages = collect(alice, 'room.message');
    await server.push('r1', 'before');
    await messages.next(1);
    assert.ok(alice.session.token, 'the token of the first $session frame is kept');
    assert.ok(alice.session.offset, 'the last push offset is kept');

    const closed = nextEvent(alice, 'close');
    // Listening before the drop: a fast server may answer the resume before the pushes end.
    const resuming = nextEvent(alice, 'resumed');
    server.drop(alice);
    assert.equal((await closed).willReconnect, true);
    for (let i = 0; i < 50; i++) await server.push('r1', `missed ${i}`);
    const resumed = await resuming;
    assert.deepEqual(resumed, { resumed: true, replayed: 50 });
    await server.push('r1', 'live');
    const got = await messages.next(52);
    assert.deepEqual(
      got.map((m) => m.text),
      ['before', ...Array.from({ length: 50 }, (_, i) => `missed ${i}`), 'live'],
    );
  });

  only('a resume the server cannot honour is reported with its reason, and the client goes on fresh', async () => {
    const bob = client('bob');
    await within(bob.request('room.join', { room: 'r2' }), 'room.join');
    const oldToken = bob.session.token;
    server.expireAll();
    server.drop(bob);
    assert.deepEqual(await nextEvent(bob, 'resumed'), { resumed: false, reason: 'expired' });
    assert.notEqual(bob.session.token, oldToken, 'the fresh session has a new token');
    assert.equal(bob.session.offset, undefined, 'offsets of the old session are forgotten');
    // The app refetches: it can talk again at once.
    assert.deepEqual(await within(bob.request('room.join', { room: 'r2' }), 'room.join'), { room: 'r2', members: ['bob'] });
  });

  only('history too short to cover what was missed: resumed:false, reason evicted (never a partial replay)', async () => {
    const carol = client('carol');
    await within(carol.request('room.join', { room: 'r3' }), 'room.join');
    const messages = collect(carol, 'room.message');
    await server.push('r3', 'seen');
    await messages.next(1);
    server.keepHistory(2);
    const closed = nextEvent(carol, 'close');
    server.drop(carol);
    await closed;
    for (let i = 0; i < 5; i++) await server.push('r3', `gone ${i}`);
    assert.deepEqual(await nextEvent(carol, 'resumed'), { resumed: false, reason: 'evicted' });
    assert.equal(messages.got.length, 1, 'nothing replayed');
    server.keepHistory(Infinity);
  });

  test('server requests are answered through handle(): a room poll counts an async answer, a throw and no handler', async () => {
    // `room.poll` (the chat example's; the simulated server mirrors it) asks every member of the
    // room `poll.ask` {room, from, question, options} and tallies their `$ack` answers: dave
    // (the asker) answers after a delay, erin's handler throws, gus handles nothing.
    const dave = client('dave');
    const erin = client('erin');
    const gus = client('gus');
    for (const c of [dave, erin, gus]) {
      await c.opened();
      await within(c.request('room.join', { room: 'r4' }), 'room.join');
    }
    // What each client sends, to check the `$ack` frames themselves.
    const sent = (c) => {
      const frames = [];
      const send = c.socket.send.bind(c.socket);
      c.socket.send = (text) => {
        frames.push(JSON.parse(text));
        send(text);
      };
      return frames;
    };
    const [daveSent, erinSent, gusSent] = [sent(dave), sent(erin), sent(gus)];
    const asked = [];
    dave.handle('poll.ask', async (q) => {
      asked.push(q);
      await new Promise((r) => setTimeout(r, 20));
      return { choice: q.options.indexOf('tea') };
    });
    erin.handle('poll.ask', () => {
      const e = new Error('no opinion');
      e.code = 'abstain';
      throw e;
    });

    const question = { room: 'r4', question: 'Tea or coffee?', options: ['coffee', 'tea'], timeout_ms: 5000 };
    const result = await within(dave.request('room.poll', question), 'the poll');
    assert.deepEqual(result, {
      room: 'r4',
      question: 'Tea or coffee?',
      tallies: [{ option: 'coffee', votes: 0 }, { option: 'tea', votes: 1 }],
      refused: 2,
      unanswered: 0,
    });
    assert.deepEqual(asked, [{ room: 'r4', from: 'dave', question: 'Tea or coffee?', options: ['coffee', 'tea'] }]);
    const acks = (frames) => frames.filter((f) => f.cmd === '$ack');
    const [answer] = acks(daveSent);
    assert.deepEqual(answer, { cmd: '$ack', ack: answer.ack, data: { choice: 1 } });
    assert.ok(Number.isInteger(answer.ack), JSON.stringify(answer));
    assert.deepEqual(acks(erinSent).map((f) => f.error), [{ code: 'abstain', message: 'no opinion' }]);
    assert.deepEqual(acks(gusSent).map((f) => f.error.code), ['unknown_command']);
    // Only members may ask the room.
    const notMember = await within(client('hal').request('room.poll', question).catch((e) => e), 'the refusal');
    assert.ok(notMember instanceof RequestError, String(notMember));
    assert.equal(notMember.code, 'forbidden');
  });

  only('close() sends 1000, which ends the server session; nothing reconnects', async () => {
    const erin = client('erin');
    await erin.opened();
    const before = server.sessionCount();
    const closed = nextEvent(erin, 'close');
    erin.close();
    assert.deepEqual(await closed, { code: 1000, reason: '', willReconnect: false });
    await within(
      (async () => {
        while (server.sessionCount() !== before - 1) await new Promise((r) => setTimeout(r, 10));
      })(),
      'the session to end',
    );
    assert.equal(erin.state, 'closed');
    await assert.rejects(erin.request('room.join', { room: 'x' }), /closed/);
  });

  only('a request the server never answers times out with a TimeoutError; a late id is ignored', async () => {
    const fay = client('fay');
    const err = await within(fay.request('never.answers', {}, { timeout: 50 }).catch((e) => e), 'the timeout');
    assert.ok(err instanceof TimeoutError, String(err));
    const unknown = await within(fay.request('no.such', {}).catch((e) => e), 'the error reply');
    assert.ok(unknown instanceof RequestError);
    assert.equal(unknown.code, 'unknown_command');
  });
});
