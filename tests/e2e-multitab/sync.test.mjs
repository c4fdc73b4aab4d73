// BroadcastSync (broadcast-websocket/sync) in real tabs with real zustand stores: a new tab gets the
// state, structured-cloned; syncKeys and excludeKeys hold on the bus itself (a raw BroadcastChannel
// listener reads it); remote updates are never sent again; throttle and debounce, judged by the
// messages' own timestamps; concurrent writes converge under each strategy; the leader tab closed →
// another leads within the election bound; junk ignored; forceLeader(); a plain store; no
// BroadcastChannel → a no-op with one warning. Library-only.
/* global sy -- page global (tests/pages/sync/sync.js), used inside evaluate callbacks */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { libraryOnly, startServerAndBrowser, stopServerAndBrowser, unexpectedErrors } from '../harness.mjs';
import { freshContext } from './support.mjs';

let server;
let browser;
before(async () => ({ server, browser } = await startServerAndBrowser({ skip: libraryOnly })));
after(() => stopServerAndBrowser({ server, browser }));

const TAB = '/tests/pages/sync/tab.html';
const ready = () => window.sy;
/** Heartbeats of 250 ms: a silent leader is replaced after 1500 ms. */
const HEARTBEAT_MS = 250;
const LEADER_TIMEOUT_MS = 6 * HEARTBEAT_MS;

/** A tab with the sync started under `config` (and page options); resolves with the tab. */
async function syncTab(ctx, config, options = {}, query = '') {
  const tab = await ctx.newPage(`${TAB}${query}`, { waitForSetup: false, ready });
  await tab.evaluate(([c, o]) => sy.start(c, o), [{ leaderHeartbeatMs: HEARTBEAT_MS, ...config }, options]);
  return tab;
}

/** Waits in the tab until `predicate` (a function of sy, as source) holds. */
const until = (tab, predicate, ms) => tab.evaluate(([p, m]) => sy.until(p, m), [String(predicate), ms]);

const noErrors = (tabs) => {
  for (const tab of tabs) assert.deepEqual(unexpectedErrors(tab.errors), []);
};

test(
  'a new tab gets the state, structured-cloned; syncKeys and excludeKeys hold on the bus; remote updates are not sent again',
  { skip: libraryOnly },
  async (t) => {
    const ctx = await freshContext(t, browser, server);
    const config = {
      channelName: 'prefs',
      syncKeys: ['theme', 'locale', 'secret', 'when', 'tags', 'bytes'],
      excludeKeys: ['secret'],
    };
    const a = await syncTab(ctx, config);
    await a.evaluate(() =>
      sy.set({
        theme: 'dark',
        locale: 'fr',
        secret: 'a-secret',
        count: 7,
        when: new Date(Date.UTC(2026, 11, 7)),
        tags: new Map([['x', 1]]),
        bytes: new Uint8Array([1, 2, 3]),
      }),
    );
    const b = await syncTab(ctx, config);
    await until(b, (s) => s.store.getState().theme === 'dark');
    const state = await b.evaluate(() => sy.state());
    assert.deepEqual(
      { ...state, settings: undefined },
      {
        theme: 'dark',
        locale: 'fr',
        secret: 'mine', // excluded: B keeps its own
        count: 0, // not in syncKeys
        settings: undefined,
        when: { Date: '2026-12-07T00:00:00.000Z' },
        tags: { Map: [['x', 1]] },
        bytes: { Uint8Array: [1, 2, 3] },
      },
    );
    assert.deepEqual(await b.evaluate(() => sy.remote.map((r) => r.keys.sort())), [
      ['bytes', 'locale', 'tags', 'theme', 'when'],
    ]);

    // A write in B reaches A; neither tab sends what it applied from the other.
    await b.evaluate(() => sy.set({ locale: 'de' }));
    await until(a, (s) => s.store.getState().locale === 'de');
    const bus = await a.evaluate(() => sy.bus);
    const idOf = async (tab) => tab.evaluate(() => sy.sync.getTabId());
    const [idA, idB] = [await idOf(a), await idOf(b)];
    const updates = (id) => bus.filter((m) => m.type === 'STATE_UPDATE' && m.tabId === id).map((m) => m.keys.sort());
    assert.deepEqual(updates(idA), [['bytes', 'locale', 'tags', 'theme', 'when']]);
    assert.deepEqual(updates(idB), [['locale']]);
    for (const message of bus) {
      assert.ok(!message.body.includes('secret'), `an excluded key on the bus: ${message.body}`);
      assert.ok(!message.body.includes('count'), `a key outside syncKeys on the bus: ${message.body}`);
    }
    noErrors([a, b]);
  },
);

test(
  'throttleMs: one message per interval at most; debounceMs: one once writes stop',
  { skip: libraryOnly },
  async (t) => {
    const ctx = await freshContext(t, browser, server);
    const throttled = await syncTab(ctx, { channelName: 'throttled', throttleMs: 100 });
    const debounced = await syncTab(ctx, { channelName: 'debounced', debounceMs: 150 });
    const reader = await syncTab(ctx, { channelName: 'throttled' });
    const debounceReader = await syncTab(ctx, { channelName: 'debounced' });

    // 30 writes, one every 10 ms: the messages' own timestamps are 100 ms apart or more, the last
    // carries the last value, and the reader ends with it.
    await throttled.evaluate(() => sy.writeEvery('count', 30, 10));
    await until(reader, (s) => s.store.getState().count === 29);
    const sent = (await reader.evaluate(() => sy.bus)).filter((m) => m.type === 'STATE_UPDATE');
    assert.ok(sent.length >= 3 && sent.length <= 5, `${sent.length} messages for 300 ms of writes`);
    for (let k = 1; k < sent.length; k++) {
      // Date.now() is whole milliseconds, the timer's wait is not: 1 ms of rounding.
      const gap = sent[k].timestamp - sent[k - 1].timestamp;
      assert.ok(gap >= 99, `messages ${k - 1} and ${k} ${gap} ms apart: ${sent.map((m) => m.body).join('\n')}`);
    }
    assert.match(sent.at(-1).body, /"value":29/);

    // 10 writes, one every 10 ms: one message, 150 ms or more after the last write.
    const lastWrite = await debounced.evaluate(() => sy.writeEvery('count', 10, 10));
    await until(debounceReader, (s) => s.store.getState().count === 9);
    const once = (await debounceReader.evaluate(() => sy.bus)).filter((m) => m.type === 'STATE_UPDATE');
    assert.equal(once.length, 1, JSON.stringify(once));
    assert.ok(once[0].timestamp - lastWrite >= 149, `sent ${once[0].timestamp - lastWrite} ms after the last write`);
    noErrors([throttled, debounced, reader, debounceReader]);
  },
);

/**
 * Four tabs write at once: tab k adds `write(k)` (a [key, item] pair) to the value it holds, as an
 * app adds to a list or a record. Once `done` (a function of sy, as source) holds in every tab, they
 * must all hold the same value of `key`, which this returns.
 */
async function concurrentWrites(t, config, key, write, done, options) {
  const ctx = await freshContext(t, browser, server);
  const tabs = [];
  for (let k = 0; k < 4; k++) tabs.push(await syncTab(ctx, config, options));
  await until(tabs[0], (s) => s.sync.getConnectedTabs() === 4);
  await Promise.all(tabs.map((tab, k) => tab.evaluate(([key, item]) => sy.add(key, item), write(k))));
  await Promise.all(tabs.map((tab) => until(tab, done)));
  const values = await Promise.all(tabs.map((tab) => tab.evaluate((k) => sy.state()[k], key)));
  for (const value of values) assert.deepEqual(value, values[0], `${config.channelName}: ${JSON.stringify(values)}`);
  noErrors(tabs);
  return values[0];
}

test(
  'four tabs writing at once converge: last-write-wins; merge and custom, resolved by the leader',
  { skip: libraryOnly },
  async (t) => {
    const everyUpdate = (s) => new Set(s.bus.filter((m) => m.type === 'STATE_UPDATE').map((m) => m.tabId)).size === 4;
    // Each tab's write replaces the list with the one it added to: one of them wins everywhere.
    const lww = await concurrentWrites(t, { channelName: 'lww' }, 'tags', (k) => ['tags', `t${k}`], everyUpdate);
    assert.ok(lww.length >= 1 && lww.every((tag) => /^t[0-3]$/.test(tag)), JSON.stringify(lww));

    const merged = await concurrentWrites(
      t,
      { channelName: 'merge', conflictStrategy: 'merge' },
      'settings',
      (k) => ['settings', `tab${k}`],
      (s) => Object.keys(s.store.getState().settings).length === 4,
    );
    assert.deepEqual(merged, { tab0: true, tab1: true, tab2: true, tab3: true });

    const custom = await concurrentWrites(
      t,
      { channelName: 'custom' },
      'tags',
      (k) => ['tags', `t${k}`],
      (s) => s.store.getState().tags?.length === 4,
      { customResolver: 'union' },
    );
    assert.deepEqual([...custom].sort(), ['t0', 't1', 't2', 't3']);
  },
);

test(
  'the leader tab closed: another leads within the election bound, onSyncStateChange says so; no socket anywhere',
  { skip: libraryOnly },
  async (t) => {
    const ctx = await freshContext(t, browser, server);
    const tabs = [];
    for (let k = 0; k < 3; k++) tabs.push(await syncTab(ctx, { channelName: 'lead' }));
    await until(tabs[0], (s) => s.sync.getConnectedTabs() === 3);
    const roles = await Promise.all(tabs.map((tab) => tab.evaluate(() => sy.sync.isLeader())));
    assert.equal(roles.filter(Boolean).length, 1, JSON.stringify(roles));
    const leader = tabs[roles.indexOf(true)];
    const others = tabs.filter((tab) => tab !== leader);
    for (const tab of tabs) {
      const states = await tab.evaluate(() => sy.states.map(([s]) => s));
      assert.deepEqual(states, ['connected', tab === leader ? 'leader' : 'follower']);
    }

    const closedAt = Date.now();
    await leader.close();
    await Promise.all(others.map((tab) => until(tab, (s) => s.sync.getConnectedTabs() === 2)));
    const after = await Promise.all(others.map((tab) => tab.evaluate(() => [sy.sync.isLeader(), sy.states.at(-1)])));
    const next = after.findIndex(([isLeader]) => isLeader);
    assert.ok(next >= 0 && after.filter(([isLeader]) => isLeader).length === 1, JSON.stringify(after));
    const [state, at] = after[next][1];
    assert.equal(state, 'leader');
    assert.ok(at - closedAt < LEADER_TIMEOUT_MS, `led ${at - closedAt} ms after the leader closed`);
    assert.equal(await others[next].evaluate(() => sy.leaderchanges), 1);
    assert.equal((await server.stats()).connections, 0, 'the election opened no socket');
    noErrors(others);
  },
);

test(
  'forceLeader(): this tab leads, the old leader follows; leaderchange in both',
  { skip: libraryOnly },
  async (t) => {
    const ctx = await freshContext(t, browser, server);
    const a = await syncTab(ctx, { channelName: 'force' });
    await until(a, (s) => s.sync.isLeader());
    const b = await syncTab(ctx, { channelName: 'force' });
    await until(b, (s) => s.sync.getConnectedTabs() === 2);
    await b.evaluate(() => sy.sync.forceLeader());
    await until(b, (s) => s.sync.isLeader());
    await until(a, (s) => !s.sync.isLeader() && s.states.at(-1)[0] === 'follower');
    assert.deepEqual(await a.evaluate(() => [sy.leaderchanges, sy.states.map(([s]) => s)]), [
      2,
      ['connected', 'leader', 'follower'],
    ]);
    assert.deepEqual(await b.evaluate(() => [sy.leaderchanges, sy.states.map(([s]) => s)]), [
      1,
      ['connected', 'follower', 'leader'],
    ]);
    noErrors([a, b]);
  },
);

test('junk on the channel is ignored; a write after it still syncs', { skip: libraryOnly }, async (t) => {
  const ctx = await freshContext(t, browser, server);
  const a = await syncTab(ctx, { channelName: 'junk' });
  const b = await syncTab(ctx, { channelName: 'junk' });
  const vector = { x: 99 };
  await a.evaluate((v) => {
    for (const junk of [
      null,
      'STATE_UPDATE',
      { type: 'STATE_UPDATE', payload: { writes: [{ key: 'theme', value: 'junk-1' }] } },
      { bws: 'sync', v: 2, type: 'STATE_UPDATE', tabId: 'x', payload: {} },
      { bws: 'sync', v: 1, type: 'STATE_UPDATE', tabId: 'x', payload: { writes: [{ key: 'theme', value: 'junk-2' }] } },
      // A version whose clock is not its vector's sum.
      {
        bws: 'sync',
        v: 1,
        type: 'STATE_UPDATE',
        tabId: 'x',
        payload: { writes: [{ key: 'theme', value: 'junk-3', version: { vector: v, clock: 1, time: 0, tab: 'x' } }] },
      },
      { bws: 'sync', v: 1, type: 'HELLO', tabId: 'x', payload: {} },
    ]) {
      sy.post(junk);
    }
    sy.set({ theme: 'after-junk' });
  }, vector);
  await until(b, (s) => s.store.getState().theme === 'after-junk');
  assert.deepEqual(await b.evaluate(() => sy.remote.map((r) => r.keys)), [['theme']]);
  noErrors([a, b]);
});

test(
  'a plain store (not zustand) syncs; a new tab’s own early write wins over the state it is sent',
  { skip: libraryOnly },
  async (t) => {
    const ctx = await freshContext(t, browser, server);
    const a = await syncTab(ctx, { channelName: 'plain', syncKeys: ['theme', 'locale'] }, { plain: true });
    await a.evaluate(() => sy.set({ theme: 'dark', locale: 'fr' }));
    // B writes the theme before the others' state reaches it: its write wins; the locale comes from A.
    const b = await ctx.newPage(TAB, { waitForSetup: false, ready });
    await b.evaluate(() => {
      sy.start({ channelName: 'plain', syncKeys: ['theme', 'locale'] }, { plain: true });
      sy.set({ theme: 'b-theme' });
    });
    await until(a, (s) => s.store.getState().theme === 'b-theme');
    await until(b, (s) => s.store.getState().locale === 'fr');
    assert.deepEqual(await b.evaluate(() => [sy.state().theme, sy.state().locale]), ['b-theme', 'fr']);
    noErrors([a, b]);
  },
);

test('without BroadcastChannel: start() is a no-op with one warning', { skip: libraryOnly }, async (t) => {
  const ctx = await freshContext(t, browser, server);
  const tab = await ctx.newPage(`${TAB}?nobc`, { waitForSetup: false, ready });
  const result = await tab.evaluate(() => {
    sy.start({ channelName: 'none' });
    sy.sync.start();
    sy.set({ theme: 'dark' });
    return { active: sy.sync.isActive(), warnings: sy.warnings, states: sy.states };
  });
  assert.equal(result.active, false);
  assert.equal(result.warnings.length, 1, JSON.stringify(result.warnings));
  assert.match(result.warnings[0], /BroadcastChannel is missing/);
  assert.deepEqual(result.states, []);
  noErrors([tab]);
});

test('bad config throws a TypeError naming the option', { skip: libraryOnly }, async (t) => {
  const ctx = await freshContext(t, browser, server);
  const tab = await ctx.newPage(TAB, { waitForSetup: false, ready });
  const messages = await tab.evaluate(async () => {
    const { createBroadcastSync } = await import('broadcast-websocket/sync');
    const store = { getState: () => ({}), setState() {}, subscribe: () => () => {} };
    const cases = [
      [{}, {}],
      [store, { channelName: '' }],
      [store, { channelName: 'x', throttleMs: -1 }],
      [store, { channelName: 'x', conflictStrategy: 'newest' }],
      [store, { channelName: 'x', conflictStrategy: 'custom' }],
      [store, { channelName: 'x', conflictStrategy: 'merge', enableLeaderElection: false }],
      [store, { channelName: 'x', syncKeys: 'theme' }],
      [store, { channelName: 'x', leaderHeartbeatMs: 'fast' }],
      [store, { channelName: 'x', election: 'paxos' }],
      [store, { channelName: 'x', enableLeaderElection: 'yes' }],
    ];
    return cases.map(([s, c]) => {
      try {
        createBroadcastSync(s, c);
        return 'no error';
      } catch (e) {
        return `${e.name}: ${e.message}`;
      }
    });
  });
  const expected = [
    /store must have/,
    /channelName/,
    /throttleMs/,
    /conflictStrategy/,
    /customResolver/,
    /leader election/,
    /syncKeys/,
    /leaderHeartbeatMs/,
    /'election'/,
    /enableLeaderElection/,
  ];
  assert.equal(messages.length, expected.length);
  messages.forEach((message, k) => assert.match(message, new RegExp(`^TypeError: .*${expected[k].source}`)));
});
