// A small in-test server speaking issue 16's wire (resumable sessions, server→client requests)
// over the chat example's `room.join` and `room.poll`, until swoft-ws serves it itself (issue
// 16, branch `issue-16`). It follows the wire of the issue, not swoft-ws's implementation:
//
//   first frame   {"cmd":"$session","data":{"token":T,"resumed":false}}
//   every push    {"cmd":C,"data":D,"off":O}            (O: ordered, one per broadcast)
//   resume        ?resume=T&off=O → {"cmd":"$session","data":{"token":T2,"resumed":true,"replayed":K}}
//                 then the K pushes missed, then live ones; or resumed:false with a reason
//                 (unknown, expired, evicted)
//   ask           {"cmd":C,"data":D,"ack":N} ← {"cmd":"$ack","ack":N,"data":R} or {.., "error":{..}}
//   room.poll     as the chat example's: asks every member `poll.ask` and tallies the answers
//   close 1000    ends the session

import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { WebSocketServer } from 'ws';

export async function startSimServer() {
  const http = createServer((_, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ server: http });
  const sessions = new Map(); // token → { name, rooms:Set, socket, expired }
  const history = []; // { off, room, frame }
  let nextOff = 1;
  let historyLimit = Infinity;
  let evictedUpTo = ''; // the last offset history no longer holds
  let nextAck = 1;
  const acks = new Map(); // ack → resolve

  const offString = (n) => String(n).padStart(12, '0');
  const newToken = () => randomBytes(16).toString('hex');

  /** Sends `{"cmd","data","ack"}` on `socket`; resolves to the `$ack` frame, or undefined after
   * `timeout` ms. */
  const askSocket = (socket, cmd, data, timeout) => {
    const ack = nextAck++;
    const answered = new Promise((r) => acks.set(ack, r));
    socket.send(JSON.stringify({ cmd, data, ack }));
    const late = new Promise((r) => setTimeout(r, timeout).unref());
    return Promise.race([answered, late]).finally(() => acks.delete(ack));
  };

  /** The chat example's `room.poll`: every member is asked `poll.ask`; `{"choice": I}` votes,
   * an error answer or an invalid choice refuses, silence is unanswered. */
  const poll = async (session, msg) => {
    const { room, question, options, timeout_ms: timeout = 10000 } = msg.data;
    if (!session.rooms.has(room)) return { error: { code: 'forbidden', message: 'join the room first' } };
    const members = [...sessions.values()].filter((s) => s.rooms.has(room) && s.socket?.readyState === 1);
    const data = { room, from: session.name, question, options };
    const answers = await Promise.all(members.map((s) => askSocket(s.socket, 'poll.ask', data, timeout)));
    const votes = options.map(() => 0);
    let refused = 0;
    let unanswered = 0;
    for (const a of answers) {
      const choice = a?.data?.choice;
      if (a === undefined) unanswered++;
      else if (Number.isInteger(choice) && choice >= 0 && choice < votes.length) votes[choice]++;
      else refused++;
    }
    const tallies = options.map((option, i) => ({ option, votes: votes[i] }));
    return { data: { room, question, tallies, refused, unanswered } };
  };

  wss.on('connection', (socket, req) => {
    const q = new URL(req.url, 'http://x').searchParams;
    const name = q.get('name') ?? 'anon';
    let token = newToken();
    let session = { name, rooms: new Set(), socket, expired: false };
    let first = { token, resumed: false };
    let replay = [];
    const resume = q.get('resume');
    if (resume !== null) {
      const old = sessions.get(resume);
      const since = q.get('off') ?? '';
      const missed = (s) => history.filter((h) => s.rooms.has(h.room) && h.off > since);
      if (!old) first.reason = 'unknown';
      else if (old.expired) first.reason = 'expired';
      else if (evictedUpTo > since) first.reason = 'evicted';
      else {
        sessions.delete(resume);
        if (old.socket && old.socket !== socket) old.socket.close(4000, 'resumed elsewhere');
        session = { ...old, socket };
        replay = missed(old);
        first = { token, resumed: true, replayed: replay.length };
      }
      if (first.reason) sessions.delete(resume);
    }
    sessions.set(token, session);
    socket.send(JSON.stringify({ cmd: '$session', data: first }));
    for (const h of replay) socket.send(h.frame);

    socket.on('message', (raw) => {
      const msg = JSON.parse(String(raw));
      if (msg.cmd === '$ack') {
        acks.get(msg.ack)?.(msg);
        acks.delete(msg.ack);
        return;
      }
      if (msg.cmd === 'room.join') {
        session.rooms.add(msg.data.room);
        const members = [...sessions.values()].filter((s) => s.rooms.has(msg.data.room)).map((s) => s.name).sort();
        socket.send(JSON.stringify({ cmd: msg.cmd, data: { room: msg.data.room, members }, id: msg.id }));
        return;
      }
      if (msg.cmd === 'room.poll') {
        poll(session, msg).then((reply) => socket.send(JSON.stringify({ cmd: msg.cmd, ...reply, id: msg.id })));
        return;
      }
      if (msg.cmd === 'never.answers') return;
      socket.send(JSON.stringify({ cmd: msg.cmd, error: { code: 'unknown_command', message: `unknown command ${msg.cmd}` }, id: msg.id }));
    });
    socket.on('close', (code) => {
      if (session.socket === socket) session.socket = undefined;
      if (code === 1000) sessions.delete(token);
    });
  });

  await new Promise((r) => http.listen(0, '127.0.0.1', r));
  const { port } = http.address();
  const addr = `127.0.0.1:${port}`;

  return {
    kind: 'simulated',
    addr,
    url: (name) => `ws://${addr}/chat?name=${name}`,
    /** Pushes `room.message` to every member of `room` (connected or not: history keeps it). */
    async push(room, text) {
      const off = offString(nextOff++);
      const frame = JSON.stringify({ cmd: 'room.message', data: { room, from: 'server', text }, off });
      history.push({ off, room, frame });
      while (history.length > historyLimit) evictedUpTo = history.shift().off;
      for (const s of sessions.values()) if (s.rooms.has(room) && s.socket?.readyState === 1) s.socket.send(frame);
    },
    /** Drops the connection of the session named `name` without a close frame. */
    drop(client) {
      client.socket.terminate();
    },
    expireAll() {
      for (const s of sessions.values()) s.expired = true;
    },
    keepHistory(n) {
      historyLimit = n;
      while (history.length > historyLimit) evictedUpTo = history.shift().off;
    },
    sessionCount: () => sessions.size,
    async stop() {
      for (const c of wss.clients) c.terminate();
      await new Promise((r) => wss.close(r));
      await new Promise((r) => http.close(r));
    },
  };
}
