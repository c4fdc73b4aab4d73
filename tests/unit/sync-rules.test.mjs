// Property tests of BroadcastSync's rules (ts/sync-rules.ts), in node: for each conflict strategy,
// any interleaving of writes from N tabs, delivered in any order that keeps each sender's order (as
// BroadcastChannel does), with the leader changing at any point, converges: once every message is
// delivered, every tab holds the same value and version of every key, and the messages stop.
// Seeds: BWS_SYNC_SEEDS (default 400 per strategy); BWS_SYNC_SEED=n replays one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import * as esbuild from 'esbuild';
import { prng } from '../e2e-multitab/support.mjs';

const bundled = await esbuild.build({ entryPoints: ['ts/sync-rules.ts'], bundle: true, format: 'esm', write: false });
const { Versions, STRATEGIES, compare, deepMerge } = await import(
  `data:text/javascript;base64,${Buffer.from(bundled.outputFiles[0].text).toString('base64')}`
);

const KEYS = ['a', 'b', 'c'];

/** Values a write may carry under each strategy: objects to merge, lists to concatenate, numbers. */
function valueOf(strategy, next, tab, step) {
  if (strategy === 'merge') {
    const value = {};
    for (const field of ['x', 'y', 'z']) if (next() < 0.5) value[field] = { by: tab, step };
    return value;
  }
  if (strategy === 'custom') return [`${tab}@${step}`];
  return Math.floor(next() * 5);
}

/** The leader's resolution of a conflict: the deep merge, or an application's resolver (concatenation). */
const RESOLVERS = {
  merge: (key, local, remote) => deepMerge(local, remote),
  custom: (key, local, remote) => [...(local ?? []), ...(remote ?? [])],
};

/** One run: tabs writing, messages delivered in a random order per the seed, then everything delivered. */
function run(strategy, seed) {
  const next = prng(seed);
  const count = 2 + Math.floor(next() * 4);
  const tabs = Array.from({ length: count }, (_, i) => ({
    id: `tab-${i}`,
    versions: new Versions(`tab-${i}`, strategy),
    values: new Map(),
  }));
  // queues[from][to]: what `from` posted and `to` has yet to receive, in order.
  const queues = tabs.map(() => tabs.map(() => []));
  let leader = 0;
  let step = 0;
  const post = (from, write) => {
    for (let to = 0; to < count; to++) if (to !== from) queues[from][to].push(write);
  };
  const deliver = (from, to) => {
    const write = queues[from][to].shift();
    const tab = tabs[to];
    // Times collide often (a coarse clock), so that concurrent writes tie on time too.
    const outcome = tab.versions.take(
      write,
      tab.values.get(write.key),
      to === leader ? RESOLVERS[strategy] : undefined,
      Math.floor(step / 4),
    );
    if (outcome.set) tab.values.set(write.key, outcome.set.value);
    if (outcome.resolution) post(to, outcome.resolution);
  };
  const pending = () => {
    const nonEmpty = [];
    for (let from = 0; from < count; from++) {
      for (let to = 0; to < count; to++) if (queues[from][to].length) nonEmpty.push([from, to]);
    }
    return nonEmpty;
  };

  for (; step < 60; step++) {
    const roll = next();
    const waiting = pending();
    if (roll < 0.4 || waiting.length === 0) {
      const from = Math.floor(next() * count);
      const key = KEYS[Math.floor(next() * KEYS.length)];
      const value = valueOf(strategy, next, tabs[from].id, step);
      tabs[from].values.set(key, value);
      post(from, { key, value, version: tabs[from].versions.stamp(key, Math.floor(step / 4)) });
    } else if (roll < 0.95) {
      const [from, to] = waiting[Math.floor(next() * waiting.length)];
      deliver(from, to);
    } else {
      leader = Math.floor(next() * count);
    }
  }
  let deliveries = 0;
  for (let waiting = pending(); waiting.length; waiting = pending()) {
    assert.ok(++deliveries < 10_000, `${strategy}, seed ${seed}: the messages never stop`);
    const [from, to] = waiting[Math.floor(next() * waiting.length)];
    deliver(from, to);
  }
  for (const key of KEYS) {
    const [first, ...rest] = tabs;
    for (const tab of rest) {
      const at = `${strategy}, seed ${seed}, key ${key}: ${first.id} and ${tab.id}`;
      assert.ok(isDeepStrictEqual(tab.values.get(key), first.values.get(key)), `${at} hold different values`);
      assert.deepEqual(tab.versions.get(key), first.versions.get(key), `${at} hold different versions`);
    }
  }
}

const only = process.env.BWS_SYNC_SEED;
const seeds = only
  ? [Number(only)]
  : Array.from({ length: Number(process.env.BWS_SYNC_SEEDS ?? 400) }, (_, i) => i + 1);

for (const strategy of STRATEGIES) {
  test(`${strategy}: any interleaving of writes from 2–5 tabs converges (${seeds.length} seeds)`, () => {
    for (const seed of seeds) run(strategy, seed);
  });
}

/**
 * Concurrent writes of one key, one per tab (none saw another); the last tab leads. Every write
 * reaches every other tab, the leader's resolutions too; resolves with the value they agree on.
 */
function concurrent(strategy, values) {
  const tabs = values.map((_, i) => ({
    id: `tab-${i}`,
    versions: new Versions(`tab-${i}`, strategy),
    value: undefined,
  }));
  const leader = tabs.length - 1;
  const queue = values.map(({ value, time }, i) => {
    tabs[i].value = value;
    return [i, { key: 'k', value, version: tabs[i].versions.stamp('k', time) }];
  });
  while (queue.length) {
    const [from, write] = queue.shift();
    for (const [to, tab] of tabs.entries()) {
      if (to === from) continue;
      const outcome = tab.versions.take(write, tab.value, to === leader ? RESOLVERS[strategy] : undefined, 9);
      if (outcome.set) tab.value = outcome.set.value;
      if (outcome.resolution) queue.push([to, outcome.resolution]);
    }
  }
  for (const tab of tabs) assert.deepEqual(tab.value, tabs[0].value, `${strategy}: ${tab.id} agrees`);
  return tabs[0].value;
}

test('concurrent writes: last-write-wins keeps the later, first-write-wins the earlier', () => {
  const writes = [
    { value: 'early', time: 1 },
    { value: 'late', time: 2 },
  ];
  assert.equal(concurrent('last-write-wins', writes), 'late');
  assert.equal(concurrent('first-write-wins', writes), 'early');
});

test('concurrent writes: merge keeps both objects’ properties; custom applies the resolver once', () => {
  assert.deepEqual(
    concurrent('merge', [
      { value: { theme: 'dark', layout: { side: 'left' } }, time: 1 },
      { value: { locale: 'fr', layout: { width: 3 } }, time: 1 },
    ]),
    { theme: 'dark', locale: 'fr', layout: { side: 'left', width: 3 } },
  );
  assert.deepEqual(
    concurrent('custom', [
      { value: ['a'], time: 1 },
      { value: ['b'], time: 2 },
    ]),
    ['b', 'a'],
  );
  // A third concurrent write that reaches the leader after it resolved the first two is resolved too.
  assert.deepEqual(
    concurrent('custom', [
      { value: ['a'], time: 1 },
      { value: ['b'], time: 1 },
      { value: ['c'], time: 1 },
    ]).sort(),
    ['a', 'b', 'c'],
  );
});

test('an old write sent again (a state response) changes nothing, and is not resolved twice', () => {
  const leader = new Versions('tab-1', 'custom');
  const write = { key: 'k', value: ['a'], version: new Versions('tab-0', 'custom').stamp('k', 1) };
  const first = leader.take(write, undefined, RESOLVERS.custom, 2);
  assert.deepEqual(first, { set: { value: ['a'] } });
  assert.deepEqual(leader.take(write, ['a'], RESOLVERS.custom, 3), {});
});

test('a write made after seeing another wins under every strategy, whatever its time', () => {
  for (const strategy of STRATEGIES) {
    const seen = { clock: 1, time: 50, tab: 'tab-0' };
    const after = { clock: 2, time: 10, tab: 'tab-1' };
    assert.ok(compare(after, seen, strategy) > 0, strategy);
  }
});
