// Messages: text and binary echo (every send() input type, both binaryTypes, switching mid-stream),
// MessageEvent fields, ordering of a server burst, server pushes, and bufferedAmount.
/* global TestSocket, harness, ws, log -- page globals, used inside page.evaluate callbacks */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openPage, startServerAndBrowser, stopServerAndBrowser } from '../harness.mjs';

let server;
let browser;
before(async () => ({ server, browser } = await startServerAndBrowser()));
after(() => stopServerAndBrowser({ server, browser }));

// Opens a page whose window.ws is an OPEN socket to `url` with window.log recording its events.
async function openSocketPage(t, url) {
  const p = await openPage(browser, server);
  t.after(() => p.close());
  await p.evaluate(async (url) => {
    window.ws = new TestSocket(url);
    window.log = harness.record(window.ws);
    await window.log.untilType('open');
  }, url);
  return p;
}

// Page-side: sends each item (built by `build`, a function source) and reads the echoes back.
function echoAll(p, buildSource, binaryType) {
  return p.evaluate(
    async ({ buildSource, binaryType }) => {
      const items = (0, eval)(`(${buildSource})`)();
      if (binaryType) ws.binaryType = binaryType;
      const before = log.messages.length;
      for (const item of items) ws.send(item);
      await log.untilCount('message', before + items.length);
      const received = log.messages.slice(before);
      return Promise.all(received.map((d) => harness.readData(d)));
    },
    { buildSource, binaryType },
  );
}

describe('text', () => {
  test('echoes ASCII, multi-byte, empty and large strings as strings', async (t) => {
    const p = await openSocketPage(t, server.wsUrl());
    const texts = ['hello', 'héllo wörld ✓ 🎉 日本語', '', 'x'.repeat(200_000)];
    const r = await p.evaluate(async (texts) => {
      for (const s of texts) ws.send(s);
      await log.untilCount('message', texts.length);
      return log.events.filter((e) => e.type !== 'open');
    }, texts);
    assert.deepEqual(
      r.map((e) => e.data),
      texts,
    );
    for (const e of r) {
      assert.equal(e.type, 'message');
      assert.equal(e.cls, 'MessageEvent');
      assert.equal(e.dataType, 'string');
      assert.equal(e.readyState, 1);
      // MessageEvent.origin is the origin of the WebSocket URL, not of the page.
      assert.equal(e.origin, `ws://127.0.0.1:${server.port}`);
    }
    assert.deepEqual(p.errors, []);
  });

  test('a burst of 200 server frames arrives complete and in order', async (t) => {
    const p = await openSocketPage(t, server.wsUrl());
    const r = await p.evaluate(async () => {
      ws.send('__bws:burst 200 64');
      // The server answers in order: once 'after-burst' is echoed, the whole burst is in.
      ws.send('after-burst');
      await log.until((evs) => evs.some((e) => e.data === 'after-burst'), 10000, 'the echo of after-burst');
      return log.events.filter((e) => e.type === 'message').map((e) => e.data);
    });
    assert.equal(r.length, 201);
    assert.equal(r[200], 'after-burst');
    // bws-server pads each frame "<i>:" with 'x' up to SIZE bytes.
    const expected = Array.from({ length: 200 }, (_, i) => `${i}:`.padEnd(64, 'x'));
    assert.deepEqual(r.slice(0, 200), expected);
  });

  test('server pushes (HTTP /broadcast, __bws:broadcast) arrive as messages', async (t) => {
    const p = await openSocketPage(t, server.wsUrl());
    await server.broadcast('pushed by /broadcast');
    await p.evaluate(() => log.untilCount('message', 1));
    await server.broadcast(Buffer.from([7, 8, 9]));
    const r = await p.evaluate(async () => {
      await log.untilCount('message', 2);
      ws.send('__bws:broadcast via command');
      await log.untilCount('message', 3);
      return Promise.all(log.messages.map((d) => harness.readData(d)));
    });
    assert.deepEqual(r, [
      { type: 'string', value: 'pushed by /broadcast' },
      { type: 'Blob', bytes: [7, 8, 9] },
      { type: 'string', value: 'via command' },
    ]);
  });
});

describe('binary', () => {
  // Every BufferSource/Blob form of the bytes 1..6 (views deliberately offset into a larger
  // buffer, so sending the whole underlying buffer would be caught).
  const buildInputs = `() => {
    const big = new Uint8Array([0xee, 1, 2, 3, 4, 5, 6, 0xee]);
    return [
      new Uint8Array([1, 2, 3, 4, 5, 6]).buffer,
      big.subarray(1, 7),
      new DataView(big.buffer, 1, 6),
      new Int16Array(big.buffer.slice(1, 7)),
      new Blob([new Uint8Array([1, 2, 3]), new Uint8Array([4, 5, 6])]),
      new ArrayBuffer(0),
    ];
  }`;
  const expectedBytes = [
    [1, 2, 3, 4, 5, 6],
    [1, 2, 3, 4, 5, 6],
    [1, 2, 3, 4, 5, 6],
    [1, 2, 3, 4, 5, 6],
    [1, 2, 3, 4, 5, 6],
    [],
  ];

  test("binaryType defaults to 'blob': binary echoes arrive as Blobs", async (t) => {
    const p = await openSocketPage(t, server.wsUrl());
    const r = await echoAll(p, buildInputs);
    assert.deepEqual(
      r,
      expectedBytes.map((bytes) => ({ type: 'Blob', bytes })),
    );
    assert.deepEqual(p.errors, []);
  });

  test("binaryType 'arraybuffer': binary echoes arrive as ArrayBuffers", async (t) => {
    const p = await openSocketPage(t, server.wsUrl());
    const r = await echoAll(p, buildInputs, 'arraybuffer');
    assert.deepEqual(
      r,
      expectedBytes.map((bytes) => ({ type: 'ArrayBuffer', bytes })),
    );
  });

  test('a 1 MiB binary message round-trips intact', async (t) => {
    const p = await openSocketPage(t, server.wsUrl());
    const r = await p.evaluate(async () => {
      const sent = new Uint8Array(1 << 20).map((_, i) => (i * 31 + 7) & 255);
      ws.binaryType = 'arraybuffer';
      ws.send(sent);
      await log.untilCount('message', 1, 10000);
      const got = new Uint8Array(log.messages[0]);
      return { length: got.length, equal: got.every((b, i) => b === sent[i]) };
    });
    assert.deepEqual(r, { length: 1 << 20, equal: true });
  });

  test('switching binaryType mid-stream applies to the next messages', async (t) => {
    const p = await openSocketPage(t, server.wsUrl());
    const r = await p.evaluate(async () => {
      const types = [];
      for (const [i, bt] of ['blob', 'arraybuffer', 'blob', 'arraybuffer'].entries()) {
        ws.binaryType = bt;
        types.push(ws.binaryType);
        ws.send(new Uint8Array([i]));
        await log.untilCount('message', i + 1);
      }
      // Invalid values are ignored, as for any enumerated IDL attribute.
      ws.binaryType = 'text';
      types.push(ws.binaryType);
      return { types, data: await Promise.all(log.messages.map((d) => harness.readData(d))) };
    });
    assert.deepEqual(r.types, ['blob', 'arraybuffer', 'blob', 'arraybuffer', 'arraybuffer']);
    assert.deepEqual(r.data, [
      { type: 'Blob', bytes: [0] },
      { type: 'ArrayBuffer', bytes: [1] },
      { type: 'Blob', bytes: [2] },
      { type: 'ArrayBuffer', bytes: [3] },
    ]);
  });

  test('text and binary interleaved keep their order and kinds', async (t) => {
    const p = await openSocketPage(t, server.wsUrl());
    const r = await p.evaluate(async () => {
      ws.binaryType = 'arraybuffer';
      const items = ['a', new Uint8Array([1]), new Blob([new Uint8Array([2])]), 'b', new Uint8Array([3])];
      for (const item of items) ws.send(item);
      await log.untilCount('message', items.length);
      return Promise.all(log.messages.map((d) => harness.readData(d)));
    });
    assert.deepEqual(r, [
      { type: 'string', value: 'a' },
      { type: 'ArrayBuffer', bytes: [1] },
      { type: 'ArrayBuffer', bytes: [2] },
      { type: 'string', value: 'b' },
      { type: 'ArrayBuffer', bytes: [3] },
    ]);
  });
});

describe('bufferedAmount', () => {
  test('is a number, grows on send and is back to 0 once the echoes arrive', async (t) => {
    const p = await openSocketPage(t, server.wsUrl());
    const r = await p.evaluate(async () => {
      const initial = ws.bufferedAmount;
      const payload = 'y'.repeat(64 * 1024);
      for (let i = 0; i < 8; i++) ws.send(payload);
      const afterSend = ws.bufferedAmount;
      await log.untilCount('message', 8, 10000);
      return { initial, afterSend, afterEchoes: ws.bufferedAmount };
    });
    assert.equal(r.initial, 0);
    assert.equal(typeof r.afterSend, 'number');
    // Nothing can have been handed to the network synchronously within the same task.
    assert.equal(r.afterSend, 8 * 64 * 1024);
    assert.equal(r.afterEchoes, 0);
  });
});
