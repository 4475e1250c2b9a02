// The TypeScript client (clients/typescript, the npm package `swoft-ws-client`) from Node,
// against the chat example: a request and its reply, a push, an error reply, close().
//
// Run (from the repository root; the chat example in another terminal):
//
//   cargo run -p swoft-ws-examples --example chat
//   (cd clients/typescript && npm ci && npm run build)     # once: builds dist/, installs `ws`
//   node examples/node_client.mjs                          # or: node examples/node_client.mjs ws://HOST:PORT
//
// Node 22+ has a global WebSocket; Node 20 takes the `ws` package, here the client package's own
// (a devDependency). In an app: `npm install swoft-ws-client ws` and import both by name.

import { createRequire } from 'node:module';
import { Client, RequestError } from '../clients/typescript/dist/index.js';

const require = createRequire(new URL('../clients/typescript/package.json', import.meta.url));
const WebSocket = globalThis.WebSocket ?? require('ws').WebSocket;

const base = process.argv[2] ?? 'ws://127.0.0.1:8080';
const alice = new Client(`${base}/chat?name=alice`, { WebSocket });
const bob = new Client(`${base}/chat?name=bob`, { WebSocket });

// Every wait has a deadline.
const within = (promise, what) =>
  Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`no ${what} within 10 s`)), 10_000).unref()),
  ]);

// A push: the server sends `room.message` to the room's other members.
const heard = within(new Promise((resolve) => alice.on('room.message', resolve)), 'room.message push');

// A request resolves to the reply's `data` (each under a timeout; 10 s here).
console.log('alice joined:', await alice.request('room.join', { room: 'lobby' }, { timeout: 10_000 }));
console.log('bob joined:', await bob.request('room.join', { room: 'lobby' }, { timeout: 10_000 }));
console.log('bob sent:', await bob.request('room.send', { room: 'lobby', text: 'hi from Node' }, { timeout: 10_000 }));
console.log('alice heard:', await heard);

// An error reply rejects with a RequestError carrying the server's code and message.
try {
  await bob.request('room.send', { room: 'nowhere', text: 'x' }, { timeout: 10_000 });
} catch (e) {
  if (!(e instanceof RequestError)) throw e;
  console.log(`error reply: ${e.code}: ${e.message}`);
}

alice.close();
bob.close();
