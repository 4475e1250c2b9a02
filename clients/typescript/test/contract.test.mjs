// The generated contract and the committed build, from the node side:
// - the chat example's AsyncAPI document (examples/chat/contract/chat.asyncapi.json, compared
//   with what the app generates by tests/tests/contract.rs) passes the official parser;
// - test/typed/chat-usage.ts calls every command of that document and handles every request
//   the server asks clients with (tsc --noEmit compiles it against the generated TypeScript
//   module: `npm run check:contract`);
// - the client the chat example serves (examples/chat/static/swoft-ws-client.js) is this
//   package's fresh build (`npm run build` then copy dist/index.js there).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Parser } from '@asyncapi/parser';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..', '..');
const doc = readFileSync(join(ROOT, 'examples/chat/contract/chat.asyncapi.json'), 'utf8');

test("the chat example's AsyncAPI document passes @asyncapi/parser without errors", async () => {
  const { document, diagnostics } = await new Parser().parse(doc);
  const errors = diagnostics.filter((d) => d.severity === 0);
  assert.deepEqual(
    errors.map((d) => `${d.path.join('/')}: ${d.message}`),
    [],
  );
  assert.ok(document, 'a parsed document');
  assert.equal(document.version(), '3.0.0');
  const chat = document.channels().get('ChatModule');
  assert.equal(chat.address(), '/chat');
  const join = document.operations().get('ChatModule.room.join');
  assert.equal(join.action(), 'receive');
  assert.equal(join.reply().messages().length, 2, 'the reply and the error reply');
  assert.equal(document.operations().get('ChatModule.room.message.push').action(), 'send');
  const ask = document.operations().get('ChatModule.poll.ask.ask');
  assert.equal(ask.action(), 'send', "the server's request to its clients");
  assert.equal(ask.reply().messages().length, 2, "the client's answer and refusal");
  // /chat keeps sessions: its `$session` frame, the `off` of its pushes, the resume's query.
  const session = document.operations().get('ChatModule._session');
  assert.equal(session.action(), 'send');
  const sessionData = session.messages()[0].payload().properties().data;
  assert.deepEqual(sessionData.required(), ['token', 'resumed']);
  assert.deepEqual(sessionData.properties().reason.enum(), ['unknown', 'expired', 'evicted']);
  const pushPayload = chat.messages().get('room.message.push').payload();
  assert.ok(pushPayload.required().includes('off'), 'a push of /chat carries its offset');
  const query = chat.bindings().get('ws').value().query;
  assert.deepEqual(Object.keys(query.properties).sort(), ['off', 'resume']);
});

test('the typed usage file calls every command of the AsyncAPI document', () => {
  const usage = readFileSync(join(HERE, 'typed', 'chat-usage.ts'), 'utf8');
  const parsed = JSON.parse(doc);
  const commands = Object.values(parsed.operations)
    .filter((op) => op.action === 'receive')
    .map((op) => op.summary.match(/`([^`]+)`/)[1]);
  assert.ok(commands.length >= 6, commands.join(', '));
  const missing = commands.filter((c) => !usage.includes(`.${c}(`));
  assert.deepEqual(missing, [], 'commands the usage file does not call');
  // ... and answers every request the server asks clients with.
  const requests = Object.values(parsed.operations)
    .filter((op) => op.action === 'send' && op.reply)
    .map((op) => op.summary.match(/`([^`]+)`/)[1]);
  assert.ok(requests.length >= 1, 'the chat example asks its clients (poll.ask)');
  const unhandled = requests.filter((r) => !usage.includes(`.handle("${r}"`));
  assert.deepEqual(unhandled, [], 'server requests the usage file does not handle');
});

test('the client the chat example serves is the fresh build of src/index.ts', () => {
  const fresh = readFileSync(join(HERE, '..', 'dist', 'index.js'), 'utf8');
  const committed = readFileSync(join(ROOT, 'examples/chat/static/swoft-ws-client.js'), 'utf8');
  assert.ok(
    committed === fresh,
    'examples/chat/static/swoft-ws-client.js differs from the build: run `npm run build` in clients/typescript and copy dist/index.js there',
  );
});
