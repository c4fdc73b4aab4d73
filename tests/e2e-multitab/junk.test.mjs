// Junk on the tabs' BroadcastChannel: another page of the origin posts garbage of every shape on the
// channel names the library may use while traffic flows; nothing breaks (no lost, duplicated or
// reordered message, no leader change, no page error). Run for both election backends.
// Library-only (skipped under BWS_E2E_CLASS=native).
/* global mt -- page global (tests/pages/multitab/multitab.js), used inside evaluate callbacks */
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { libraryOnly, startServerAndBrowser, stopServerAndBrowser, waitForStats } from '../harness.mjs';
import {
  BACKENDS,
  LEADER_TIMEOUT_MS,
  assertBroadcastReachesAll,
  errorsOf,
  freshContext,
  openIn,
  openTabs,
  waitForAgreement,
} from './support.mjs';

let server;
let browser;
before(async () => ({ server, browser } = await startServerAndBrowser({ skip: libraryOnly })));
after(() => stopServerAndBrowser({ server, browser }));

/**
 * Channel names to spam. ASSUMPTION, not part of the public contract: the library's channel is named
 * `bws:v<bus version>:<scope>` (worker/src/web/bus.rs; a well-formed message posted there does reach
 * the tabs), the version read from the source below; the other variants keep the junk on target if
 * the channel is renamed. Confirm with the library when it is.
 */
function channelNames(scope) {
  const names = ['bws', 'bws:', 'broadcast-websocket', scope, `broadcast-websocket:${scope}`];
  for (const s of new Set([scope, encodeURIComponent(scope)])) {
    names.push(`bws:${s}`);
    for (const v of new Set(['v0', 'v1', 'v2', 'v3', `v${BUS_VERSION}`, '1', '2'])) names.push(`bws:${v}:${s}`);
    for (const kind of ['lease', 'locks', 'election', 'bus', 'data'])
      names.push(`bws:${kind}:${s}`, `bws:v1:${kind}:${s}`);
  }
  return names;
}

/** The bus protocol version (worker/core/src/bus.rs): malformed messages of this version get past the version check. */
const BUS_VERSION = Number(
  /pub const PROTOCOL_VERSION: u32 = (\d+);/.exec(
    readFileSync(new URL('../../worker/core/src/bus.rs', import.meta.url), 'utf8'),
  )[1],
);

/** Posts `rounds` rounds of every junk shape on every name, protocol-shaped ones in version `v`; runs in the page. */
async function postJunk([names, rounds, v]) {
  const channels = names.map((n) => new BroadcastChannel(n));
  const deep = (n) => (n === 0 ? { v: 999 } : { body: deep(n - 1) });
  const garbage = [undefined, null, true, 0, -1, NaN, 1e308, -0, 'x', '', '{"v":1}', 'bws', {}, [], [1, [2, [3]]]];
  const keys = ['v', 'from', 'epoch', 'body', 'type', 'id', 'tab', 'scope', 'data', 'code', 'reason', 'tabs'];
  const shapes = [
    ...garbage,
    new ArrayBuffer(16),
    new Uint8Array([1, 2, 3]),
    new Float64Array([Infinity]),
    new DataView(new ArrayBuffer(4)),
    new Blob(['junk']),
    new Date(0),
    new Map([[1, { v: 1 }]]),
    new Set(['Hello']),
    /bws/g,
    new Error('junk'),
    10n,
    'y'.repeat(10000),
    deep(200),
    Object.assign(Object.create(null), { v: 1 }),
    // Protocol-shaped but malformed: wrong version, wrong field types, missing fields, unknown bodies.
    { v: 999, from: 'junk-tab', epoch: 1e9, body: 'Claim' },
    { v: 999, from: 'junk-tab', epoch: 1, body: { Closed: { code: 4000, reason: 'junk', was_clean: true } } },
    { v: '1', from: 'junk-tab', epoch: 1, body: 'Hello' },
    { v, from: 42, epoch: 'NaN', body: 'Claim' },
    { v, from: 'junk-tab', epoch: -1, body: { Closed: 'nope' } },
    { v, from: 'junk-tab', epoch: 1.5, body: { Heartbeat: { state: 7, tabs: -3 } } },
    { v, from: null, epoch: null, body: null },
    { v, from: {}, epoch: [], body: [] },
    { v, body: { In: {} } },
    { v, body: { Out: 5 } },
    { v, from: 'junk-tab', epoch: 1, body: { Out: { leader: 'junk-tab', seq: -1, payload: 7 } } },
    { v, from: 'junk-tab', epoch: 1, body: { Refused: { handed: [['junk-tab', 'x'], 5] } } },
    { v, from: 'junk-tab', epoch: 1e9, body: { Refused: { handed: [] } } },
    { v, from: 'junk-tab', epoch: 1, body: { Heartbeat: { state: 'Connecting', tabs: 1, handed: 'all' } } },
    { v, from: 'junk-tab', epoch: 1, body: 'NotAVariant' },
    { v, from: 'junk-tab', epoch: 1, body: { Unknown: 1, Claim: null } },
    { v, from: 'junk-tab' },
    { v },
    { v: 0 },
    { v: 999 },
    [{ v }, { v, body: 'Claim' }],
    // Shaped as the bus's arrays (worker/src/web/bus_codec.rs: [v, from, epoch, kind, ...fields]),
    // each malformed: none may count as a message (a well-formed Claim or Hello would take part).
    [v],
    [v, 'junk-tab'],
    [v, 'junk-tab', 1],
    [999, 'junk-tab', 1e9, 3],
    [String(v), 'junk-tab', 1, 3],
    [v, 42, 1, 3],
    [v, 'junk-tab', -1, 3],
    [v, 'junk-tab', 1.5, 0],
    [v, 'junk-tab', 1, 99],
    [v, 'junk-tab', 1, 3, 'extra'],
    [v, 'junk-tab', 1, 4, 'junk-tab', -1, 'x'],
    [v, 'junk-tab', 1, 8, {}],
    [v, 'junk-tab', 1, 8, 7],
    [v, 'junk-tab', 1, 10, '4000', 'junk', true],
    [v, 'junk-tab', 1, 1, 1, 'all', 0, 0, null, null],
    [v, 'junk-tab', 1, 1, 1, ['junk-tab'], 0, 0, 'p', null],
    [v, 'junk-tab', 1e9, 5, [['junk-tab', 1]], null],
    [v, 'junk-tab', 1, 2, 1, null, 4000],
    new Array(7),
    ...keys.map((k, n) => ({ [k]: garbage[n % garbage.length], v: garbage[(n + 3) % garbage.length] })),
    Object.fromEntries(keys.map((k, n) => [k, garbage[(n * 7) % garbage.length]])),
  ];
  let posted = 0;
  let failed = 0;
  for (let r = 0; r < rounds; r++) {
    for (const ch of channels) {
      for (const shape of shapes) {
        try {
          ch.postMessage(shape);
          posted++;
        } catch {
          failed++; // not cloneable in this browser: fine, it is junk
        }
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  for (const ch of channels) ch.close();
  return { posted, failed, names: names.length, shapes: shapes.length };
}

for (const b of BACKENDS) {
  describe(`junk on the channel [${b.name}]`, { skip: b.skip }, () => {
    test('garbage posted on the channels while traffic flows breaks nothing', { skip: libraryOnly }, async (t) => {
      const ctx = await freshContext(t, browser, server);
      const tabs = await openTabs(ctx, 3);
      const [spammer] = await openTabs(ctx, 1); // same origin and context, no instance
      await openIn(tabs, server.wsUrl('/echo'), { ...b.options, leaderTimeoutMs: LEADER_TIMEOUT_MS });
      await waitForStats(server, (s) => s.connections === 1, 5000);
      const agreed = await waitForAgreement(tabs, 5000, { tabsCount: 3 });
      const [scope] = new Set(agreed.statuses.flat().map((s) => s.scope));
      await Promise.all(tabs.map((tab) => tab.evaluate(() => mt.reset())));

      const N = 100;
      const junk = spammer.evaluate(postJunk, [channelNames(scope), 10, BUS_VERSION]);
      const sending = tabs.map((tab, k) => tab.evaluate(([p, n]) => mt.sendSeq(0, p, n, 2), [`j${k}:`, N]));
      const broadcasts = [];
      for (let m = 0; m < 20; m++) {
        broadcasts.push(`srv:${m}`);
        await server.broadcast(`srv:${m}`);
      }
      await Promise.all(sending);
      const posted = await junk;
      const total = tabs.length * N + broadcasts.length;
      await Promise.all(tabs.map((tab) => tab.evaluate((n) => mt.waitMessages(n, 20000), total)));
      // A leader that took junk for a leader change would show up late: give it a timeout period.
      const after = await waitForAgreement(tabs, LEADER_TIMEOUT_MS + 2000, { tabsCount: 3 });
      await assertBroadcastReachesAll(server, tabs, 'after-junk');

      const snaps = (await Promise.all(tabs.map((tab) => tab.evaluate(() => mt.snapshot())))).flat();
      const reference = snaps[0].data.slice(0, total);
      assert.equal(new Set(reference).size, total, 'no duplicates');
      for (const s of snaps) {
        assert.deepEqual(s.data.slice(0, total), reference, `instance ${s.i}: same messages in the same order`);
        assert.deepEqual(s.events, [], 'no open/close/error');
        assert.deepEqual(s.leaderchanges, [], 'no leaderchange');
      }
      for (let k = 0; k < tabs.length; k++) {
        assert.deepEqual(
          reference.filter((d) => d.startsWith(`j${k}:`)),
          Array.from({ length: N }, (_, n) => `j${k}:${n}`),
        );
      }
      assert.deepEqual(
        reference.filter((d) => d.startsWith('srv:')),
        broadcasts,
      );
      assert.equal(after.leaderId, agreed.leaderId, 'same leader');
      assert.equal(after.epoch, agreed.epoch, 'same epoch');
      const stats = await server.stats();
      assert.equal(stats.connections, 1);
      console.log(
        `[${b.name}] junk: ${posted.posted} messages (${posted.shapes} shapes x ${posted.names} channel names x 10; ` +
          `${posted.failed} not cloneable) during ${total} relayed messages; nothing broke`,
      );
      assert.deepEqual(errorsOf([...tabs, spammer]), []);
    });
  });
}
