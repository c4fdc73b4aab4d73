// The scenarios of the differential test: small scripts of steps, run in the page by runner.js with
// the native WebSocket and with BroadcastWebsocket (as the only tab, and as a follower of another
// tab), each recording a trace through `t` (see Tracer in runner.js):
//   t.construct(name, args)   new Class(...args) as socket `name`, its events recorded from then on
//   t.mustThrow(args)         a constructor call expected to throw
//   t.call(label, fn, name?)  fn() with what it returned or threw, and the socket's properties after
//   t.note(label, value)      an observation;  t.fn(label) a handler that records its calls
//   t.wait(name, type, n)     waits for the n-th event of that type;  t.settle(name) for open or close
// `sockets(env)` lists the constructor arguments of every socket the scenario opens (the same URL
// and protocols), so that in follower mode another tab holds each of those connections first.
// No scenario sleeps: every wait is for an event, and values that drain over time (bufferedAmount)
// are only read where they are deterministic: right after a synchronous run of calls, once the echo
// of everything sent has come back, or once closing. Sockets that send batches (BATCHED) leave it
// out of their message events; large or Blob sends go one at a time where it is read.
//
// Imported by node (names, sockets) as well, so nothing here touches browser globals at import time.

/** The `/echo` endpoint of the test server. */
export const echo = (env, query = '') => `ws://127.0.0.1:${env.port}/echo${query}`;

/** The protocol list a constructor's second argument amounts to (for naming the scope it joins). */
export function normaliseProtocols(protocols) {
  if (protocols === undefined) return [];
  if (typeof protocols === 'object' && protocols !== null && Symbol.iterator in protocols) {
    return Array.from(protocols, String);
  }
  if (typeof protocols === 'object' && protocols !== null) return []; // BroadcastWebsocket options
  return [String(protocols)];
}

const bytes = (...values) => new Uint8Array(values);
/** Deterministic test data: n bytes, or an n-character ASCII string. */
const byteRun = (n) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 255);
const textRun = (n) => 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(Math.ceil(n / 36)).slice(0, n);
const MIB = 1024 * 1024;
/** For sockets that send several messages before waiting for their echoes (see construct in runner.js). */
const BATCHED = { batched: true };

/** Constructs socket `name` and waits for its open event. */
async function open(t, name, args, options) {
  const ws = t.construct(name, args, options);
  await t.wait(name, 'open');
  return ws;
}

/** Calls ws.close(...args) and waits for its close event. */
async function closeAndWait(t, name, ...args) {
  const ws = t.socket(name);
  t.call(`${name}.close(${args.map(String).join(', ')})`, () => ws.close(...args), name);
  await t.wait(name, 'close');
}

/** One constructor case that connects (or fails to): construct, let it settle, close it if it opened. */
async function constructCase(t, name, args) {
  const ws = t.construct(name, args);
  if (!ws) return;
  if ((await t.settle(name)) === 'open') await closeAndWait(t, name);
  else await t.wait(name, 'close');
}

const scenarios = [];
/** Adds a scenario; `sockets` defaults to the one echo socket most scenarios use. */
function scenario(name, { sockets = (env) => [[echo(env)]], ...rest }, run) {
  scenarios.push({ name, sockets, ...rest, run });
}

// ---------------------------------------------------------------------------------------------
// Construction

const connectingUrls = (env) => [
  `ws://127.0.0.1:${env.port}/echo`,
  `http://127.0.0.1:${env.port}/echo?x=1`,
  `HTTP://127.0.0.1:${env.port}/echo`,
  `ws:127.0.0.1:${env.port}/echo`,
  `ws://127.0.0.1:${env.port}`,
  `ws://127.0.0.1:${env.port}/a/../echo?q=a b&r=é`,
  `ws://user:pw@127.0.0.1:${env.port}/echo`,
  `ws://bücher.localhost:${env.port}/echo`,
];

scenario(
  'construct: absolute URLs that connect',
  { sockets: (env) => [...connectingUrls(env).map((u) => [u]), [new URL(echo(env, '?url-object'))]] },
  async (t, env) => {
    for (const [i, url] of connectingUrls(env).entries()) await constructCase(t, `ws${i}`, [url]);
    await constructCase(t, 'ws-url-object', [new URL(echo(env, '?url-object'))]);
  },
);

const failingUrls = (env) => [
  `wss://127.0.0.1:${env.port}/echo`,
  `https://127.0.0.1:${env.port}/echo`,
  `ws://127.0.0.1:${env.port}/no-such-endpoint`,
  `ws://[::1]:${env.port}/echo`,
  `ws://127.0.0.1:25/blocked-port`,
  `ws://127.0.0.1:0/port-zero`,
];

scenario(
  'construct: absolute URLs that fail to connect',
  { sockets: (env) => failingUrls(env).map((u) => [u]) },
  async (t, env) => {
    for (const [i, url] of failingUrls(env).entries()) await constructCase(t, `ws${i}`, [url]);
  },
);

const relativeUrls = (env) => ['/echo', `//127.0.0.1:${env.port}/echo?scheme-relative`, 'echo', '?query-only', ''];

scenario(
  'construct: relative URLs',
  { sockets: (env) => relativeUrls(env).map((u) => [new URL(u, env.pageUrl).href.replace(/^http/, 'ws')]) },
  async (t, env) => {
    for (const [i, url] of relativeUrls(env).entries()) await constructCase(t, `ws${i}`, [url]);
  },
);

scenario('construct: invalid URLs, wrong schemes, fragments', { sockets: () => [] }, async (t, env) => {
  const p = env.port;
  for (const url of [
    'ws://',
    'http://[::1',
    'ws://exa mple.com/',
    `ws://127.0.0.1:99999/`,
    'ws://127.0.0.1:-1/',
    'ftp://127.0.0.1/',
    'file:///etc/hosts',
    'javascript:void 0',
    'data:,x',
    'about:blank',
    `blob:http://127.0.0.1:${p}/0b7f8c52-0000-4000-8000-000000000000`,
    'mailto:a@b.c',
    `ws://127.0.0.1:${p}/echo#`,
    `ws://127.0.0.1:${p}/echo#frag`,
    `http://127.0.0.1:${p}/echo#frag`,
    `wss://127.0.0.1:${p}/echo#%20`,
  ]) {
    t.mustThrow([url]);
  }
  t.mustThrow([]);
  t.call('call without new', () => t.Cls(echo(env)), null);
});

const validProtocols = (env) => [
  [echo(env), 'chat'],
  [echo(env), ['first', 'second']],
  [echo(env), []],
  [echo(env), new Set(['from-a-set', 'x'])],
  [echo(env), 123],
  [echo(env), null],
  [echo(env), undefined],
  [echo(env), ['case', 'CASE']],
  [echo(env), ["!#$%&'*+-.^_`|~"]],
];

scenario('construct: valid protocols', { sockets: validProtocols }, async (t, env) => {
  for (const [i, args] of validProtocols(env).entries()) await constructCase(t, `ws${i}`, args);
});

scenario('construct: invalid protocols', { sockets: () => [] }, async (t, env) => {
  for (const protocols of [
    '',
    [''],
    ['a', 'a'],
    ['a', 'b', 'a'],
    'a b',
    ' a',
    'a,b',
    'a;b',
    'chät',
    'a\u0000',
    '(parens)',
    'a/b',
    ['ok', 'not ok'],
    [undefined, 'undefined'],
  ]) {
    t.mustThrow([echo(env), protocols]);
  }
  // An invalid URL and invalid protocols: which check wins.
  t.mustThrow(['ftp://127.0.0.1/', ['a', 'a']]);
});

// Native: a plain object is converted to a protocol string ("[object Object]", invalid);
// BroadcastWebsocket reads it as its options (a documented deviation).
scenario('construct: plain object as second argument', {}, async (t, env) => {
  t.mustThrow([echo(env), {}]);
});

// WebIDL converts every argument (in order) before the method steps run; Symbols cannot be strings.
scenario('construct: argument conversions', { sockets: () => [] }, async (t, env) => {
  const log = [];
  const url = { toString: () => (log.push('url'), 'ftp://127.0.0.1/') };
  const protocol = { toString: () => (log.push('protocol'), 'p') };
  t.mustThrow([url, [protocol]]);
  t.note('conversions (invalid URL)', log.splice(0));
  const badProtocol = { toString: () => (log.push('protocol'), 'not ok') };
  const goodUrl = { toString: () => (log.push('url'), echo(env)) };
  t.mustThrow([goodUrl, [badProtocol, 'x']]);
  t.note('conversions (invalid protocol)', log.splice(0));
  t.mustThrow([Symbol('url')]);
  t.mustThrow([echo(env), Symbol('protocol')]);
  t.mustThrow([echo(env), [Symbol('protocol')]]);
});

// ---------------------------------------------------------------------------------------------
// Open, subprotocol negotiation, extensions

scenario('open: properties before and after open', {}, async (t, env) => {
  const ws = t.construct('ws', [echo(env)]);
  t.note('constants', [ws.CONNECTING, ws.OPEN, ws.CLOSING, ws.CLOSED, t.Cls.CONNECTING, t.Cls.CLOSED]);
  await t.wait('ws', 'open');
  await closeAndWait(t, 'ws', 1000);
});

const negotiated = (env) => [
  [echo(env, '?protocol=second'), ['first', 'second', 'third']],
  [echo(env, '?protocol=none')],
  [echo(env), ['only']],
];

scenario('open: subprotocol chosen by the server', { sockets: negotiated }, async (t, env) => {
  for (const [i, args] of negotiated(env).entries()) {
    const ws = await open(t, `ws${i}`, args);
    t.call(`ws${i}.send(protocol)`, () => ws.send(`protocol=${ws.protocol}`));
    await t.wait(`ws${i}`, 'message');
    await closeAndWait(t, `ws${i}`);
  }
});

scenario(
  'open: server selects none of the offered protocols (handshake fails)',
  { sockets: (env) => [[echo(env, '?protocol=none'), ['wanted']]] },
  async (t, env) => {
    const ws = t.construct('ws', [echo(env, '?protocol=none'), ['wanted']]);
    // Chromium fails the handshake, as RFC 6455 §4.1 says: error, then close. Firefox opens with
    // protocol '': the scenario then closes it, so that both end.
    if ((await t.settle('ws')) === 'open') t.call('close()', () => ws.close());
    await t.wait('ws', 'close');
  },
);

scenario(
  'open: extensions (permessage-deflate)',
  { needs: 'deflate', sockets: (env) => [[echo(env, '?deflate=1')]] },
  async (t, env) => {
    const ws = await open(t, 'ws', [echo(env, '?deflate=1')]);
    ws.binaryType = 'arraybuffer';
    t.call('send(compressible text)', () => ws.send('deflate me '.repeat(50)));
    await t.wait('ws', 'message', 1);
    t.call('send(compressible bytes)', () => ws.send(new Uint8Array(300).fill(7)));
    await t.wait('ws', 'message', 2);
    t.call('send(1 MiB text)', () => ws.send(textRun(MIB)));
    await t.wait('ws', 'message', 3);
    await closeAndWait(t, 'ws', 4000, 'deflated');
  },
);

// ---------------------------------------------------------------------------------------------
// send

scenario('send: strings (empty, multi-byte, unpaired surrogates)', {}, async (t, env) => {
  const ws = await open(t, 'ws', [echo(env)], BATCHED);
  t.call('send("hello")', () => ws.send('hello'));
  t.call('send("")', () => ws.send(''));
  t.call('send(multi-byte)', () => ws.send('héllo wörld ✓ 😀 日本'));
  t.call('send(unpaired surrogates)', () => ws.send('a\uD800b\uDC00c\uD83D'));
  t.call('send(NUL and controls)', () => ws.send('\u0000\u0001\n\t'));
  await t.wait('ws', 'message', 5);
  await closeAndWait(t, 'ws');
});

scenario('send: ArrayBuffer, typed arrays, DataView', {}, async (t, env) => {
  const ws = await open(t, 'ws', [echo(env)], BATCHED);
  const buffer = bytes(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 250, 255).buffer;
  t.call('send(ArrayBuffer)', () => ws.send(buffer));
  t.call('send(empty ArrayBuffer)', () => ws.send(new ArrayBuffer(0)));
  t.call('send(Uint8Array subarray)', () => ws.send(new Uint8Array(buffer, 2, 3)));
  t.call('send(Uint16Array)', () => ws.send(new Uint16Array([1, 0x1234, 0xffff])));
  t.call('send(Float64Array)', () => ws.send(new Float64Array([1.5, -0])));
  t.call('send(DataView with offset)', () => ws.send(new DataView(buffer, 8, 4)));
  t.call('send(Int8Array empty)', () => ws.send(new Int8Array(0)));
  t.call('send(BigUint64Array)', () => ws.send(new BigUint64Array([2n ** 64n - 1n])));
  t.call('send(Uint8ClampedArray)', () => ws.send(new Uint8ClampedArray([300, -5, 7])));
  // A buffer changed right after send(): the bytes at the time of the call go out.
  const mutable = bytes(1, 2, 3);
  t.call('send(Uint8Array, then mutate it)', () => {
    ws.send(mutable);
    mutable[0] = 99;
  });
  await t.wait('ws', 'message', 10);
  t.call('binaryType = "arraybuffer"', () => (ws.binaryType = 'arraybuffer'));
  t.call('send(Uint8Array again)', () => ws.send(bytes(4, 5, 6)));
  await t.wait('ws', 'message', 11);
  await closeAndWait(t, 'ws');
});

scenario('send: Blob, in order with other sends', {}, async (t, env) => {
  const ws = await open(t, 'ws', [echo(env)], BATCHED);
  t.call('binaryType = "arraybuffer"', () => (ws.binaryType = 'arraybuffer'));
  t.call('send(Blob)', () => ws.send(new Blob([bytes(1, 2, 3), 'é'])));
  t.call('send("after the blob")', () => ws.send('after the blob'));
  t.call('send(text/plain Blob)', () => ws.send(new Blob(['text in a blob'], { type: 'text/plain' })));
  t.call('send(empty Blob)', () => ws.send(new Blob([])));
  t.call('send(File)', () => ws.send(new File([bytes(9, 8, 7)], 'f.bin')));
  t.call('send(ArrayBuffer after blobs)', () => ws.send(bytes(42).buffer));
  t.call('send(large Blob)', () => ws.send(new Blob([byteRun(200000)])));
  t.call('send("last")', () => ws.send('last'));
  await t.wait('ws', 'message', 8);
  t.call('bufferedAmount once every echo came back', () => ws.bufferedAmount);
  t.call('binaryType = "blob"', () => (ws.binaryType = 'blob'));
  t.call('send(Blob, blob binaryType)', () => ws.send(new Blob([bytes(5, 6)])));
  await t.wait('ws', 'message', 9);
  await closeAndWait(t, 'ws');
});

scenario('send: 1 MiB text and binary', {}, async (t, env) => {
  const ws = await open(t, 'ws', [echo(env)]);
  t.call('binaryType = "arraybuffer"', () => (ws.binaryType = 'arraybuffer'));
  // One at a time: how much of a batch of large sends has drained when the first echo arrives
  // depends on timing (natively as in the library).
  t.call('send(1 MiB text)', () => ws.send(textRun(MIB)));
  await t.wait('ws', 'message', 1);
  t.call('send(1 MiB bytes)', () => ws.send(byteRun(MIB)));
  await t.wait('ws', 'message', 2);
  t.call('send(1 MiB multi-byte text)', () => ws.send('é'.repeat(MIB / 2)));
  await t.wait('ws', 'message', 3);
  t.call('send(1 MiB text with a 4-byte character at its end)', () => ws.send(textRun(MIB - 4) + '😀'));
  await t.wait('ws', 'message', 4);
  await closeAndWait(t, 'ws');
});

scenario('send: values converted to strings, and no argument', {}, async (t, env) => {
  const ws = await open(t, 'ws', [echo(env)], BATCHED);
  t.call('send(123)', () => ws.send(123));
  t.call('send(null)', () => ws.send(null));
  t.call('send(undefined)', () => ws.send(undefined));
  t.call('send(true)', () => ws.send(true));
  t.call('send({})', () => ws.send({}));
  t.call('send([1, 2])', () => ws.send([1, 2]));
  t.call('send(object with toString)', () => ws.send({ toString: () => 'from toString' }));
  t.call('send() without argument', () => ws.send());
  t.call('send(Symbol)', () => ws.send(Symbol('s')));
  t.call('send(object whose toString throws)', () =>
    ws.send({
      toString() {
        throw new RangeError('scenario: toString');
      },
    }),
  );
  await t.wait('ws', 'message', 7);
  await closeAndWait(t, 'ws');
});

scenario('send: while CONNECTING throws', {}, async (t, env) => {
  const ws = t.construct('ws', [echo(env)]);
  t.call('send("too early")', () => ws.send('too early'));
  t.call('send(ArrayBuffer) too early', () => ws.send(new ArrayBuffer(4)));
  t.call('send() without argument, CONNECTING', () => ws.send());
  t.call('send(Symbol), CONNECTING', () => ws.send(Symbol('s')));
  await t.wait('ws', 'open');
  t.call('send("on time")', () => ws.send('on time'));
  await t.wait('ws', 'message');
  await closeAndWait(t, 'ws');
});

scenario('send: while CLOSING and CLOSED adds to bufferedAmount', {}, async (t, env) => {
  const ws = await open(t, 'ws', [echo(env)]);
  t.call('send("echoed")', () => ws.send('echoed'));
  await t.wait('ws', 'message');
  t.call('close(4000, "closing")', () => ws.close(4000, 'closing'));
  t.call('send("abc"), CLOSING', () => ws.send('abc'));
  t.call('send("é😀"), CLOSING', () => ws.send('é😀'));
  t.call('send(ArrayBuffer 5), CLOSING', () => ws.send(new ArrayBuffer(5)));
  t.call('send(Blob 4), CLOSING', () => ws.send(new Blob([bytes(1, 2, 3, 4)])));
  t.call('send(unpaired surrogate), CLOSING', () => ws.send('\uD800'));
  await t.wait('ws', 'close');
  t.call('send("xyz"), CLOSED', () => ws.send('xyz'));
  t.call('send(DataView 2), CLOSED', () => ws.send(new DataView(new ArrayBuffer(8), 1, 2)));
  t.call('send() without argument, CLOSED', () => ws.send());
});

// ---------------------------------------------------------------------------------------------
// binaryType

scenario('binaryType: switched mid-stream', {}, async (t, env) => {
  const ws = await open(t, 'ws', [echo(env)], BATCHED);
  t.call('send([1])', () => ws.send(bytes(1)));
  await t.wait('ws', 'message', 1);
  t.call('binaryType = "arraybuffer"', () => (ws.binaryType = 'arraybuffer'));
  t.call('send([2])', () => ws.send(bytes(2)));
  await t.wait('ws', 'message', 2);
  // Switched between two sends whose echoes have not arrived yet: the type at dispatch counts.
  t.call('send([3])', () => ws.send(bytes(3)));
  t.call('binaryType = "blob"', () => (ws.binaryType = 'blob'));
  await t.wait('ws', 'message', 3);
  // Switched by the handler of one message, for the next one already on its way.
  ws.addEventListener(
    'message',
    t.fn('flip binaryType in handler', {
      then: () => (ws.binaryType = ws.binaryType === 'blob' ? 'arraybuffer' : 'blob'),
    }),
  );
  t.call('send([4], [5], [6])', () => {
    ws.send(bytes(4));
    ws.send(bytes(5));
    ws.send(bytes(6));
  });
  await t.wait('ws', 'message', 6);
  await closeAndWait(t, 'ws');
});

scenario('binaryType: invalid and converted values', {}, async (t, env) => {
  const ws = t.construct('ws', [echo(env)]);
  t.call('binaryType = "arraybuffer"', () => (ws.binaryType = 'arraybuffer'));
  t.call('binaryType = "ARRAYBUFFER"', () => (ws.binaryType = 'ARRAYBUFFER'));
  t.call('binaryType = "text"', () => (ws.binaryType = 'text'));
  t.call('binaryType = null', () => (ws.binaryType = null));
  t.call('binaryType = "blob"', () => (ws.binaryType = 'blob'));
  t.call('binaryType = new String("arraybuffer")', () => (ws.binaryType = new String('arraybuffer')));
  t.call('binaryType = "blob" again', () => (ws.binaryType = 'blob'));
  t.call('binaryType = { toString: "arraybuffer" }', () => (ws.binaryType = { toString: () => 'arraybuffer' }));
  t.call('binaryType = Symbol()', () => (ws.binaryType = Symbol('blob')));
  await t.wait('ws', 'open');
  await closeAndWait(t, 'ws');
});

scenario('attributes: read-only properties and constants', {}, async (t, env) => {
  const ws = t.construct('ws', [echo(env)]);
  for (const name of ['readyState', 'url', 'protocol', 'extensions', 'bufferedAmount', 'CONNECTING', 'OPEN']) {
    t.call(`ws.${name} = ... (strict mode)`, () => (ws[name] = 7));
  }
  t.call('Class.OPEN = ... (strict mode)', () => (t.Cls.OPEN = 7));
  t.note(
    'typeof members',
    ['send', 'close', 'addEventListener', 'dispatchEvent'].map((m) => typeof ws[m]),
  );
  t.note(
    'members are inherited, not own',
    ['readyState', 'url', 'onopen', 'binaryType', 'send'].map((m) => Object.hasOwn(ws, m)),
  );
  t.note('instance of EventTarget', ws instanceof EventTarget);
  await t.wait('ws', 'open');
  await closeAndWait(t, 'ws');
});

// ---------------------------------------------------------------------------------------------
// close()

scenario('attributes: Object.prototype.toString (Symbol.toStringTag)', {}, async (t, env) => {
  const ws = await open(t, 'ws', [echo(env)]);
  t.note('Object.prototype.toString.call(ws)', Object.prototype.toString.call(ws));
  t.note('`${ws}`', `${ws}`);
  const { writable, enumerable, configurable } = Object.getOwnPropertyDescriptor(
    Object.getPrototypeOf(ws),
    Symbol.toStringTag,
  );
  t.note('Symbol.toStringTag on the prototype', { writable, enumerable, configurable });
  await closeAndWait(t, 'ws');
});

// Two instances of one URL in one page, one request each. Native sockets each read their own reply;
// instances that share a scope share the server's replies (a declared deviation), so the first
// message each instance reads is the first reply on the shared socket: a's.
scenario('shared scope: two instances of one URL, one request each', {}, async (t, env) => {
  const a = t.construct('a', [echo(env)], { record: false });
  const b = t.construct('b', [echo(env)], { record: false });
  const first = {};
  for (const [name, ws] of [
    ['a', a],
    ['b', b],
  ]) {
    ws.addEventListener('message', (event) => (first[name] ??= event.data));
  }
  await t.until(() => a.readyState === 1 && b.readyState === 1, 'a and b open');
  t.call('a.send("request of a"); b.send("request of b")', () => {
    a.send('request of a');
    b.send('request of b');
  });
  await t.until(() => first.a !== undefined && first.b !== undefined, 'a first message for a and b');
  t.note('a reads first', first.a);
  t.note('b reads first', first.b);
  a.close();
  b.close();
  await t.until(() => a.readyState === 3 && b.readyState === 3, 'a and b closed');
});

scenario('close: no arguments', {}, async (t, env) => {
  await open(t, 'ws', [echo(env)]);
  await closeAndWait(t, 'ws');
});

const validCloses = [
  [1000, 'done'],
  [1000],
  [3000, ''],
  [4999, 'bye 👋'],
  [4000.5, 'rounded to even'],
  [3001.5, 'rounded to even'],
  [3002.7, 'rounded to nearest'],
  ['3002', 'code from a string'],
  [3003, 'é'.repeat(61) + 'a'],
  [3004, '\uD800'.repeat(41)],
  [3005, '😀'.repeat(30) + 'abc'],
];

scenario('close: valid codes and reasons (123 bytes)', {}, async (t, env) => {
  for (const [i, args] of validCloses.entries()) {
    await open(t, `ws${i}`, [echo(env)]);
    const ws = t.socket(`ws${i}`);
    t.call(`ws${i}.close(${args.map((a) => JSON.stringify(a)).join(', ')})`, () => ws.close(...args));
    await t.wait(`ws${i}`, 'close');
  }
});

scenario('close: invalid codes and reasons throw, and leave the socket open', {}, async (t, env) => {
  const ws = await open(t, 'ws', [echo(env)]);
  for (const args of [
    [0],
    [999],
    [1001],
    [1005],
    [1006],
    [1015],
    [2999],
    [5000],
    [NaN],
    ['abc'],
    [-1],
    [66536],
    [Infinity],
    [null],
    [1000, 'é'.repeat(62)],
    [1000, 'a'.repeat(124)],
    [4000, '\uD800'.repeat(42)],
    [4000, '😀'.repeat(31)],
    [0, 'a'.repeat(200)],
    [Symbol('code')],
  ]) {
    t.call(`close(${args.map((a) => (typeof a === 'symbol' ? 'Symbol' : JSON.stringify(a))).join(', ')})`, () =>
      ws.close(...args),
    );
  }
  t.call('send("still open")', () => ws.send('still open'));
  await t.wait('ws', 'message');
  await closeAndWait(t, 'ws', 4000, 'finally');
});

// Chromium treats an explicit undefined code followed by a reason as code 0 (InvalidAccessError).
scenario('close: a reason without a code', {}, async (t, env) => {
  for (const [i, args] of [
    [undefined, 'reason only'],
    [undefined, undefined],
    [undefined, ''],
  ].entries()) {
    const ws = await open(t, `ws${i}`, [echo(env)]);
    t.call(`ws${i}.close(${args.map(String).join(', ')})`, () => ws.close(...args));
    if (ws.readyState === 1) t.call(`ws${i}.close() as it is still open`, () => ws.close());
    await t.wait(`ws${i}`, 'close');
  }
});

scenario('close: argument conversions happen before the checks', {}, async (t, env) => {
  const ws = await open(t, 'ws', [echo(env)]);
  const log = [];
  const code = (value) => ({ valueOf: () => (log.push('code'), value) });
  const reason = (value) => ({ toString: () => (log.push('reason'), value) });
  t.call('close(invalid code object, reason object)', () => ws.close(code(0), reason('r')));
  t.note('conversions', log.splice(0));
  t.call('close(4000, Symbol)', () => ws.close(4000, Symbol('r')));
  t.call('close(valid code object, long reason object)', () => ws.close(code(4000), reason('x'.repeat(124))));
  t.note('conversions', log.splice(0));
  t.call('close(valid code object, reason object)', () => ws.close(code(4001), reason('objects')));
  t.note('conversions', log.splice(0));
  await t.wait('ws', 'close');
});

scenario('close: while CONNECTING', {}, async (t, env) => {
  const a = t.construct('a', [echo(env)]);
  t.call('a.close()', () => a.close());
  await t.wait('a', 'close');
  const b = t.construct('b', [echo(env)]);
  t.call('b.close(4000, "early")', () => b.close(4000, 'early'));
  t.call('b.close(4001, "again")', () => b.close(4001, 'again'));
  t.call('b.send("x") while CLOSING', () => b.send('x'));
  await t.wait('b', 'close');
});

// Every scenario runs in a fresh page, so this is the page's first instance: its worker has not
// started yet (web-platform-tests close/003.html and close-multiple.html check the events 50 ms on).
// Timed from the close() call: the connection fails then, without waiting for a worker to load
// (which takes 100 ms and more); what the constructor costs is the bench's to measure.
scenario('close: while CONNECTING, the first instance of a cold page', {}, async (t, env) => {
  const ws = t.construct('ws', [echo(env)]);
  const at = {};
  let closedAt;
  for (const type of ['error', 'close']) ws.addEventListener(type, () => (at[type] = performance.now() - closedAt));
  closedAt = performance.now();
  t.call('close()', () => ws.close());
  await t.wait('ws', 'close');
  t.note('error and close came within 50 ms of close()', at.error < 50 && at.close < 50);
});

scenario('close: twice, and after CLOSED', {}, async (t, env) => {
  const ws = await open(t, 'ws', [echo(env)]);
  t.call('close(4000, "first")', () => ws.close(4000, 'first'));
  t.call('close(4001, "second")', () => ws.close(4001, 'second'));
  t.call('close() while CLOSING', () => ws.close());
  t.call('close(0) while CLOSING', () => ws.close(0));
  await t.wait('ws', 'close');
  t.call('close() after CLOSED', () => ws.close());
  t.call('close(4002, "late") after CLOSED', () => ws.close(4002, 'late'));
  t.call('close(0) after CLOSED', () => ws.close(0));
  t.call('close(1000, 124 bytes) after CLOSED', () => ws.close(1000, 'é'.repeat(62)));
});

scenario('close: from a message handler, with more messages on the way', {}, async (t, env) => {
  const ws = await open(t, 'ws', [echo(env)]);
  ws.onmessage = t.fn('onmessage closes', {
    extra: (event) => ({ data: event.data }),
    then: () => ws.close(4000, 'enough'),
  });
  t.call('send("__bws:burst 4 8")', () => ws.send('__bws:burst 4 8'));
  await t.wait('ws', 'close');
});

// ---------------------------------------------------------------------------------------------
// The server closes, the connection fails

for (const command of [
  '__bws:close 4001 server says bye',
  '__bws:close 1000',
  '__bws:close 1011 internal error',
  `__bws:close 3000 ${'é'.repeat(61)}a`,
]) {
  // One scenario each: after the server closed it, a follower's scope is no longer held by another tab.
  scenario(
    `server close: ${command.split(' ').slice(1, 2)} ${command.length > 40 ? '(123-byte reason)' : ''}`.trim(),
    {},
    async (t, env) => {
      const ws = await open(t, 'ws', [echo(env)]);
      t.call(`send(${JSON.stringify(command.slice(0, 40))})`, () => ws.send(command));
      await t.wait('ws', 'close');
      t.call('close() after the server closed', () => ws.close());
      t.call('send() after the server closed', () => ws.send('late'));
    },
  );
}

scenario('server close: no status code (1005)', {}, async (t, env) => {
  const ws = await open(t, 'ws', [echo(env)]);
  t.call('send("__bws:close-nostatus")', () => ws.send('__bws:close-nostatus'));
  await t.wait('ws', 'close');
});

scenario('server close: abrupt TCP drop (1006, no error)', {}, async (t, env) => {
  const ws = await open(t, 'ws', [echo(env)]);
  t.call('send("__bws:drop")', () => ws.send('__bws:drop'));
  await t.wait('ws', 'close');
  t.call('send("after the drop")', () => ws.send('after the drop'));
});

scenario('server close: messages first, then the close', {}, async (t, env) => {
  const ws = await open(t, 'ws', [echo(env)], BATCHED);
  t.call('send("one"), send("two")', () => {
    ws.send('one');
    ws.send('two');
  });
  t.call('send("__bws:broadcast to all")', () => ws.send('__bws:broadcast to all'));
  t.call('send("__bws:burst 3 5")', () => ws.send('__bws:burst 3 5'));
  t.call('send("__bws:close 4005 done")', () => ws.send('__bws:close 4005 done'));
  await t.wait('ws', 'close');
});

// The server's close right behind a burst: every message, then the close, final (no reconnect).
scenario('server close: right after a burst of messages', {}, async (t, env) => {
  const ws = await open(t, 'ws', [echo(env)], BATCHED);
  t.call('send("__bws:burst 100 2000")', () => ws.send('__bws:burst 100 2000'));
  t.call('send("__bws:close 4006 after the burst")', () => ws.send('__bws:close 4006 after the burst'));
  await t.wait('ws', 'close');
});

// The client closes while the server's own close is already on its way: natively the close event has
// the server's code; a follower's close() ends only its instance, with its own code.
scenario('close: while the server is closing', {}, async (t, env) => {
  const ws = await open(t, 'ws', [echo(env)]);
  t.call('send("__bws:close 4001 server first"), close(4000, "client")', () => {
    ws.send('__bws:close 4001 server first');
    ws.close(4000, 'client');
  });
  await t.wait('ws', 'close');
});

scenario('connection refused', { sockets: (env) => [[`ws://127.0.0.1:${env.unusedPort}/echo`]] }, async (t, env) => {
  const ws = t.construct('ws', [`ws://127.0.0.1:${env.unusedPort}/echo`]);
  t.call('send("too early")', () => ws.send('too early'));
  await t.wait('ws', 'close');
  t.call('close() after the failure', () => ws.close());
  t.call('send("late")', () => ws.send('late'));
});

// ---------------------------------------------------------------------------------------------
// Event handler attributes, listeners, dispatchEvent

scenario('onX: assigned, reassigned, null, order with listeners', {}, async (t, env) => {
  const ws = t.construct('ws', [echo(env)]);
  const first = t.fn('onopen (first)');
  t.note('onopen initially', String(ws.onopen));
  ws.onopen = first;
  ws.addEventListener('open', t.fn('open listener A'));
  const second = t.fn('onopen (second, keeps the first one’s place)');
  ws.onopen = second;
  t.note('onopen getter returns the handler', ws.onopen === second);
  ws.addEventListener('open', t.fn('open listener B'));

  ws.onmessage = t.fn('onmessage (removed by null)');
  ws.addEventListener('message', t.fn('message listener A'));
  ws.onmessage = null;
  t.note('onmessage after null', String(ws.onmessage));
  ws.onmessage = t.fn('onmessage (set again: after listener A)');
  ws.addEventListener('message', t.fn('message listener B'));

  ws.onerror = t.fn('onerror');
  ws.onclose = t.fn('onclose (first)');
  ws.addEventListener('close', t.fn('close listener'));
  ws.onclose = t.fn('onclose (second)');
  await t.wait('ws', 'open');
  t.call('send("m")', () => ws.send('m'));
  await t.wait('ws', 'message');
  await closeAndWait(t, 'ws');
  t.note(
    'handlers after close',
    [ws.onopen, ws.onmessage, ws.onerror, ws.onclose].map((h) => typeof h),
  );
});

scenario('onX: non-function values', {}, async (t, env) => {
  const ws = t.construct('ws', [echo(env)]);
  const assign = (label, value) => t.call(`onopen = ${label}`, () => (ws.onopen = value));
  assign('"string"', 'alert(1)');
  t.note('onopen after a string', typeof ws.onopen);
  assign('42', 42);
  t.note('onopen after a number', typeof ws.onopen);
  const plain = {};
  assign('{}', plain);
  t.note('onopen keeps a plain object', ws.onopen === plain);
  assign('undefined', undefined);
  t.note('onopen after undefined', String(ws.onopen));
  const listenerObject = { handleEvent: t.fn('handleEvent of an onmessage object (never called natively)') };
  t.call('onmessage = { handleEvent }', () => (ws.onmessage = listenerObject));
  t.note('onmessage keeps the object', ws.onmessage === listenerObject);
  t.call('onclose = {}', () => (ws.onclose = {}));
  t.call('onerror = Symbol', () => (ws.onerror = Symbol('handler')));
  t.note('onerror after a Symbol', String(ws.onerror));
  ws.onopen = plain;
  ws.addEventListener('open', t.fn('open listener after a non-callable onopen'));
  await t.wait('ws', 'open');
  t.call('send("m")', () => ws.send('m'));
  await t.wait('ws', 'message');
  await closeAndWait(t, 'ws');
});

scenario('listeners: once, signal, duplicates, handleEvent, removal', {}, async (t, env) => {
  const ws = await open(t, 'ws', [echo(env)], BATCHED);
  const controller = new AbortController();
  const shared = t.fn('shared listener (added twice)');
  ws.addEventListener('message', t.fn('once listener'), { once: true });
  ws.addEventListener('message', shared);
  ws.addEventListener('message', shared);
  ws.addEventListener('message', shared, { capture: true });
  ws.addEventListener('message', t.fn('signal listener'), { signal: controller.signal });
  ws.addEventListener('message', { handleEvent: t.fn('handleEvent object') });
  const removed = t.fn('removed listener');
  ws.addEventListener('message', removed);
  ws.removeEventListener('message', removed);
  ws.addEventListener('message', t.fn('aborts the signal', { then: () => controller.abort() }));
  ws.addEventListener('message', null);
  t.call('send("first"), send("second")', () => {
    ws.send('first');
    ws.send('second');
  });
  await t.wait('ws', 'message', 2);
  t.call('removeEventListener(shared, capture)', () => ws.removeEventListener('message', shared, true));
  t.call('send("third")', () => ws.send('third'));
  await t.wait('ws', 'message', 3);
  const aborted = AbortSignal.abort();
  t.call('addEventListener with an aborted signal', () =>
    ws.addEventListener('close', t.fn('never: aborted signal'), { signal: aborted }),
  );
  ws.addEventListener('close', t.fn('close listener'));
  await closeAndWait(t, 'ws');
});

scenario('listeners: exceptions are reported and do not stop dispatch', {}, async (t, env) => {
  const ws = t.construct('ws', [echo(env)], BATCHED);
  ws.onopen = t.fn('onopen throws', {
    then: () => {
      throw new Error('scenario: onopen');
    },
  });
  ws.addEventListener('open', t.fn('open listener after the throw'));
  ws.addEventListener(
    'message',
    t.fn('message listener throws', {
      then: () => {
        throw new TypeError('scenario: message');
      },
    }),
  );
  ws.onmessage = t.fn('onmessage after the throw');
  ws.addEventListener('close', t.fn('close listener throws a non-Error', { then: () => Promise.reject(7) }));
  await t.wait('ws', 'open');
  t.call('send("a"), send("b")', () => {
    ws.send('a');
    ws.send('b');
  });
  await t.wait('ws', 'message', 2);
  await closeAndWait(t, 'ws', 3000);
  await t.until(() => t.entries.some((e) => e.key.startsWith('unhandled rejection')), 'the unhandled rejection');
});

scenario('dispatchEvent: synthetic events', {}, async (t, env) => {
  const ws = t.construct('ws', [echo(env)]);
  ws.onopen = t.fn('onopen');
  ws.onmessage = t.fn('onmessage', { extra: (event) => ({ data: String(event.data) }) });
  ws.onclose = t.fn('onclose', { extra: (event) => ({ code: event.code }) });
  ws.addEventListener('custom', t.fn('custom listener'));
  t.call('dispatchEvent(new Event("open")) while CONNECTING', () => ws.dispatchEvent(new Event('open')));
  t.call('dispatchEvent(new MessageEvent("message"))', () =>
    ws.dispatchEvent(new MessageEvent('message', { data: 'synthetic' })),
  );
  t.call('dispatchEvent(new CloseEvent("close", 4000))', () =>
    ws.dispatchEvent(new CloseEvent('close', { code: 4000 })),
  );
  t.call('dispatchEvent(custom)', () => ws.dispatchEvent(new Event('custom')));
  ws.addEventListener('cancel-me', (event) => event.preventDefault());
  t.call('dispatchEvent(cancelable, prevented)', () => ws.dispatchEvent(new Event('cancel-me', { cancelable: true })));
  t.call('dispatchEvent("not an event")', () => ws.dispatchEvent('open'));
  const busy = new Event('custom');
  ws.addEventListener('custom', () => t.call('re-dispatch while dispatching', () => ws.dispatchEvent(busy)), {
    once: true,
  });
  t.call('dispatchEvent(busy)', () => ws.dispatchEvent(busy));
  // The synthetic open, message and close were recorded too: the real ones are the second of each.
  await t.wait('ws', 'open', 2);
  t.call('send("real")', () => ws.send('real'));
  await t.wait('ws', 'message', 2);
  t.call('close(4001)', () => ws.close(4001));
  await t.wait('ws', 'close', 2);
});

// Natively each listener is called from the event loop, so the microtasks it queues run before the
// next listener; BroadcastWebsocket dispatches with EventTarget.dispatchEvent from script, where they
// run after the last listener (a declared deviation).
scenario('events: microtasks queued by a listener', {}, async (t, env) => {
  const ws = t.construct('ws', [echo(env)]);
  for (const type of ['open', 'message', 'close']) {
    ws.addEventListener(
      type,
      t.fn(`${type} listener A`, { then: () => queueMicrotask(t.fn(`${type} microtask of listener A`)) }),
    );
    ws.addEventListener(type, t.fn(`${type} listener B`));
  }
  await t.wait('ws', 'open');
  t.call('send("m")', () => ws.send('m'));
  await t.wait('ws', 'message');
  await closeAndWait(t, 'ws');
});

scenario('events: event object properties', {}, async (t, env) => {
  const ws = t.construct('ws', [echo(env)]);
  const inspect = (event) => ({
    isTrusted: event.isTrusted,
    bubbles: event.bubbles,
    cancelable: event.cancelable,
    composed: event.composed,
    eventPhase: event.eventPhase,
    currentTarget: event.currentTarget === ws,
    srcElement: event.srcElement === ws,
    defaultPrevented: event.defaultPrevented,
    composedPath: event.composedPath().length,
    timeStamp: typeof event.timeStamp,
    ...(event instanceof MessageEvent
      ? { lastEventId: event.lastEventId, source: event.source, ports: event.ports.length }
      : {}),
  });
  for (const type of ['open', 'message', 'close'])
    ws.addEventListener(type, t.fn(`inspect ${type}`, { extra: inspect }));
  ws.addEventListener('message', (event) => event.preventDefault());
  ws.addEventListener('message', t.fn('after preventDefault', { extra: (e) => ({ prevented: e.defaultPrevented }) }));
  await t.wait('ws', 'open');
  t.call('send("m")', () => ws.send('m'));
  await t.wait('ws', 'message');
  await closeAndWait(t, 'ws');
});

export const SCENARIOS = scenarios;
