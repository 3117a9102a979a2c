// OpenAI's own client (the `openai` npm package, written by nobody here) against `onevision serve`
// on the fixture model: the model list, a greedy answer equal to `onevision ask` (text and token
// counts), the same streamed, four clients at once, a broken picture, a wrong key, and a stream
// abandoned half way that does not hold up the next request.
//   node tests/api/run.mjs        (after the workspace is built: target/debug/onevision)
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const bin = process.env.ONEVISION_BIN ?? join(root, 'target/debug/onevision');
const model = join(root, 'tests/parity/fixtures/real_tokenizer_chat/model');
const picture = join(root, 'tests/parity/fixtures/images/triangle_64x60.png');
const question = 'What is in the picture?';
const key = 'classroom-key';
const dataUrl = `data:image/png;base64,${readFileSync(picture).toString('base64')}`;

function startServer() {
  const child = spawn(
    bin,
    ['serve', '--model', model, '--port', '0', '--served-model-name', 'fixture', '--api-key', key],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`onevision serve exited with ${code}`)));
    createInterface({ input: child.stdout }).once('line', (line) => {
      const m = /^listening on (http:\/\/\S+)$/.exec(line);
      if (m) resolve({ child, url: m[1] });
      else reject(new Error(`unexpected first line from onevision serve: ${line}`));
    });
  });
}

function messages() {
  return [
    {
      role: 'user',
      content: [
        { type: 'image_url', image_url: { url: dataUrl } },
        { type: 'text', text: question },
      ],
    },
  ];
}

async function busy(url) {
  const r = await fetch(`${url}/health`);
  return (await r.json()).busy;
}

const checks = [];
const check = (name, fn) => checks.push({ name, fn });

const reference = JSON.parse(
  execFileSync(bin, [
    'ask', '--model', model, '--image', picture, '--temperature', '0',
    '--max-new-tokens', '12', '--format', 'json', question,
  ]).toString(),
);

const { child, url } = await startServer();
const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: key, maxRetries: 0 });

check('lists the model with what it reads', async () => {
  const list = await client.models.list();
  assert.equal(list.data.length, 1);
  assert.equal(list.data[0].id, 'fixture');
  assert.deepEqual(list.data[0].input_modalities, ['text', 'image']);
});

check('a greedy answer equals onevision ask', async () => {
  const r = await client.chat.completions.create({
    model: 'fixture', messages: messages(), temperature: 0, max_tokens: 12,
  });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.content, reference.answer);
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage.completion_tokens, reference.generated_token_ids.length);
  assert.equal(r.usage.prompt_tokens, reference.prompt_token_ids.length);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
});

check('the same answer streamed, usage last', async () => {
  const stream = await client.chat.completions.create({
    model: 'fixture', messages: messages(), temperature: 0, max_completion_tokens: 12,
    stream: true, stream_options: { include_usage: true },
  });
  let text = '';
  let usage = null;
  let finish = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) usage = chunk.usage;
    const choice = chunk.choices[0];
    if (choice?.delta?.content) text += choice.delta.content;
    if (choice?.finish_reason) finish = choice.finish_reason;
  }
  assert.equal(text, reference.answer);
  assert.equal(finish, 'length');
  assert.equal(usage.completion_tokens, 12);
  assert.equal(usage.prompt_tokens, reference.prompt_token_ids.length);
});

check('four clients at once each get the answer', async () => {
  const answers = await Promise.all(
    [0, 1, 2, 3].map(async (i) => {
      if (i % 2 === 0) {
        const r = await client.chat.completions.create({
          model: 'fixture', messages: messages(), temperature: 0, max_tokens: 12,
        });
        return r.choices[0].message.content;
      }
      const stream = await client.chat.completions.create({
        model: 'fixture', messages: messages(), temperature: 0, max_tokens: 12, stream: true,
      });
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
      return text;
    }),
  );
  for (const a of answers) assert.equal(a, reference.answer);
});

check('a broken picture is a 400 naming the field', async () => {
  const broken = messages();
  broken[0].content[0].image_url.url = 'data:image/png;base64,aGVsbG8gd29ybGQ=';
  await assert.rejects(
    client.chat.completions.create({ model: 'fixture', messages: broken, max_tokens: 2 }),
    (e) => {
      assert.equal(e.status, 400);
      assert.match(e.message, /messages\[0\]\.content\[0\]\.image_url\.url/);
      assert.match(e.message, /not a picture/);
      return true;
    },
  );
});

check('a wrong key is a 401', async () => {
  const stranger = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'guess', maxRetries: 0 });
  await assert.rejects(stranger.models.list(), (e) => {
    assert.equal(e.status, 401);
    assert.ok(e instanceof OpenAI.AuthenticationError);
    return true;
  });
});

check('an abandoned stream does not hold up the next request', async () => {
  const stream = await client.chat.completions.create({
    model: 'fixture', messages: messages(), temperature: 0, max_tokens: 3000, stream: true,
  });
  let seen = 0;
  for await (const chunk of stream) {
    if (chunk.choices[0]?.delta?.content) seen += 1;
    if (seen === 3) break; // leaving the loop aborts the request
  }
  assert.equal(seen, 3);
  // Uncancelled, 3,000 tokens would keep the engine busy for minutes on this model.
  const deadline = Date.now() + 30_000;
  while ((await busy(url)) > 0) {
    assert.ok(Date.now() < deadline, 'the abandoned answer is still being written');
    await new Promise((r) => setTimeout(r, 20));
  }
  const r = await client.chat.completions.create({
    model: 'fixture', messages: messages(), temperature: 0, max_tokens: 12,
  });
  assert.equal(r.choices[0].message.content, reference.answer);
});

let failed = 0;
try {
  for (const { name, fn } of checks) {
    try {
      await fn();
      console.log(`ok   ${name}`);
    } catch (e) {
      failed += 1;
      console.log(`FAIL ${name}\n     ${e.stack ?? e}`);
    }
  }
} finally {
  child.kill();
}
console.log(`${checks.length - failed} of ${checks.length} passed`);
process.exit(failed ? 1 : 0);
