// examples/node_client.mjs (the README's "client from Node" example) run as its header says,
// against the real chat example: it must print each step and exit 0.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, buildExample, startExample } from '../../../tests/browser/example.mjs';

let example;
before(async () => {
  buildExample();
  example = await startExample();
});
after(async () => {
  await example?.stop();
});

test('examples/node_client.mjs talks to the chat example and exits 0', () => {
  const r = spawnSync(process.execPath, [join(ROOT, 'examples', 'node_client.mjs'), `ws://${example.addr}`], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(r.status, 0, `exit ${r.status} ${r.signal ?? ''}\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /bob joined: \{ room: 'lobby', members: \[ 'alice', 'bob' \] \}/);
  assert.match(r.stdout, /alice heard: \{ room: 'lobby', from: 'bob', text: 'hi from Node' \}/);
  assert.match(r.stdout, /error reply: forbidden: join the room first/);
});
