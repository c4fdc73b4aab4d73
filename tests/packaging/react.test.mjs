// Packaging: broadcast-websocket/react in a Vite + React app (react-app/) built once, with Vite's
// JS API, from the `npm pack` tarball installed in a throwaway fixture (React from the repo's
// node_modules, linked in: no network). Development mode, so that StrictMode runs its double mount.
// In the engine under test, three tabs and two iframes render useSubscription's messages, one
// broadcasts with useBroadcast, all render it, on ONE server connection opened once; unmounting a
// component keeps the others' messages flowing and the server's subscriptions right; unmounting
// everything closes the connection. Also: node resolves the subpath with React installed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import react from '@vitejs/plugin-react';
import { build, createLogger } from 'vite';
import {
  REPO_ROOT,
  openContext,
  startServerAndBrowser,
  startStaticServer,
  stopServerAndBrowser,
  unexpectedErrors,
  waitForStats,
} from '../harness.mjs';
import { makeFixture, packPackage } from './fixtures.mjs';

const APP = path.join(path.dirname(fileURLToPath(import.meta.url)), 'react-app');
const HOOKS = [
  'BroadcastProvider',
  'useBroadcastSocket',
  'useSubscription',
  'useBroadcast',
  'useBroadcastWebsocket',
  'useBroadcastSync',
];

let tmp;
let fixture;
let app; // the static server of the built app
let server;
let browser;
const viteWarnings = [];

before(
  async () => {
    let tarball;
    ({ tmp, tarball } = await packPackage());
    fixture = await makeFixture(tmp, tarball, 'react');
    // React is the app's own dependency (an optional peer of the package): linked from the repo.
    for (const name of ['react', 'react-dom', 'zustand']) {
      await symlink(path.join(REPO_ROOT, 'node_modules', name), path.join(fixture, 'node_modules', name), 'dir');
    }
    await cp(APP, fixture, { recursive: true });
    await writeFile(path.join(fixture, 'probe.mjs'), "export * from 'broadcast-websocket/react';\n");

    const logger = createLogger('warn');
    logger.warn = (message) => viteWarnings.push(message);
    logger.warnOnce = logger.warn;
    await build({
      root: fixture,
      configFile: false,
      logLevel: 'warn',
      mode: 'development',
      // React's development build: StrictMode's double mount happens only there.
      define: { 'process.env.NODE_ENV': JSON.stringify('development') },
      plugins: [react()],
      customLogger: logger,
      build: { outDir: 'dist', minify: false },
    });
    app = await startStaticServer(path.join(fixture, 'dist'));
    ({ server, browser } = await startServerAndBrowser());
  },
  { timeout: 180_000 },
);

after(async () => {
  await stopServerAndBrowser({ server, browser });
  await app?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

test('node: require() and import() of broadcast-websocket/react expose the provider and hooks', async () => {
  const required = createRequire(path.join(fixture, 'package.json'))('broadcast-websocket/react');
  const imported = await import(pathToFileURL(path.join(fixture, 'probe.mjs')).href);
  for (const name of HOOKS) {
    assert.equal(typeof required[name], 'function', `require: ${name}`);
    assert.equal(typeof imported[name], 'function', `import: ${name}`);
  }
});

// Page-side checks (they run in the app's documents).
const mounted = () =>
  document.getElementById('socket')?.dataset.readyState === '1' &&
  document.getElementById('echo')?.dataset.readyState === '1' &&
  document.querySelector('.feed[data-channel="chat"]')?.dataset.readyState === '1';
const latest = (channel) => document.querySelector(`.feed[data-channel="${channel}"] .latest`)?.textContent;
const shows = ([channel, text]) =>
  document.querySelector(`.feed[data-channel="${channel}"] .latest`)?.textContent === text;
const submit = ([form, text]) => {
  document.getElementById(form).elements.text.value = text;
  document.getElementById(form).requestSubmit();
};
const click = (id) => document.getElementById(id).click();

test(
  'Vite + React under StrictMode: three tabs and two iframes share one connection; useBroadcast reaches every useSubscription',
  { timeout: 120_000 },
  async (t) => {
    assert.deepEqual(viteWarnings, [], 'Vite built without warnings');
    const ctx = await openContext(browser, app);
    t.after(() => ctx.close());
    const idle = await waitForStats(server, (s) => s.connections === 0 && s.channels.connections === 0);

    const query = new URLSearchParams({ ws: server.wsUrl('/ws'), echo: server.wsUrl('/echo') });
    const a = await ctx.newPage(`/index.html?${query}&frames=2&news=1`, { waitForSetup: false, ready: mounted });
    const b = await ctx.newPage(`/index.html?${query}`, { waitForSetup: false, ready: mounted });
    const c = await ctx.newPage(`/index.html?${query}`, { waitForSetup: false, ready: mounted });
    const frames = [await a.frame('frame-0'), await a.frame('frame-1')];
    const apps = [a, b, c, ...frames];
    // StrictMode did run its double mount in every document.
    for (const each of apps) assert.equal(await each.evaluate(() => window.effectRuns), 2);

    // One connection to the channels service and one to the echo endpoint, each opened once: the
    // double mount did not drop and reopen either.
    const shared = await waitForStats(
      server,
      (s) =>
        s.connections === 1 &&
        s.channels.connections === 1 &&
        s.channels.subscriptions.chat === 1 &&
        s.channels.subscriptions.news === 1,
    );
    assert.equal(shared.channels.totalConnections - idle.channels.totalConnections, 1);
    assert.equal(shared.totalConnections - idle.totalConnections, 1);

    await c.evaluate(submit, ['sender', 'hello from c']);
    for (const each of apps) await each.waitForFunction(shows, ['chat', 'hello from c']);
    await c.waitForFunction(() => document.getElementById('acks').textContent === 'acked');
    assert.equal(await a.evaluate(latest, 'news'), '', 'news got nothing of chat');

    // useBroadcastWebsocket: the echo of one tab's send reaches every instance of the shared socket.
    await b.evaluate(submit, ['echo', 'echo from b']);
    for (const each of apps) {
      await each.waitForFunction(() => document.getElementById('echoed').textContent === 'echo from b');
    }

    // B unmounts its chat feed; the channel stays subscribed for the others, whose messages flow on.
    await b.evaluate(click, 'show-chat');
    await b.waitForFunction(() => !document.querySelector('.feed[data-channel="chat"]'));
    await frames[0].evaluate(submit, ['sender', 'after b left']);
    for (const each of [a, c, ...frames]) await each.waitForFunction(shows, ['chat', 'after b left']);
    assert.deepEqual((await server.stats()).channels.subscriptions, { chat: 1, news: 1 });

    // The last news listener anywhere unmounts: the server unsubscribes news, chat stays.
    await a.evaluate(click, 'show-news');
    await waitForStats(
      server,
      (s) => s.channels.subscriptions.news === undefined && s.channels.subscriptions.chat === 1,
    );
    const settled = await server.stats();
    assert.equal(settled.channels.totalConnections - idle.channels.totalConnections, 1);

    // A component mounted while the socket is open, in the leader's document (whose frames go out
    // at once, in order): StrictMode's double mount costs the server one subscribe, not a subscribe,
    // an unsubscribe and a subscribe. Counted up to the ack of a broadcast sent after it.
    const leaders = await Promise.all(
      apps.map((each) => each.evaluate(() => document.getElementById('socket').dataset.leader)),
    );
    assert.equal(leaders.filter((l) => l === 'true').length, 1, `one leader: ${leaders}`);
    const leader = apps[leaders.indexOf('true')];
    const acked = await leader.evaluate(
      () => document.getElementById('acks').textContent.split(' ').filter(Boolean).length,
    );
    await leader.evaluate(click, 'show-news');
    await leader.evaluate(submit, ['sender', 'once news is back']);
    await leader.waitForFunction(
      (n) => document.getElementById('acks').textContent.split(' ').filter(Boolean).length > n,
      acked,
    );
    const remounted = await server.stats();
    assert.equal(remounted.channels.subscriptions.news, 1);
    assert.equal(remounted.channels.messagesIn - settled.channels.messagesIn, 2, 'one subscribe and one broadcast');

    // Every provider and echo socket unmounts: nothing was left open, so both connections close.
    for (const each of apps) await each.evaluate(click, 'connected');
    await waitForStats(server, (s) => s.connections === 0 && s.channels.connections === 0);

    for (const each of [a, b, c]) assert.deepEqual(unexpectedErrors(each.errors), []);
  },
);

test(
  'useBroadcastSync under StrictMode: one sync per document, one leader, a theme set in one tab shows in all; unmounting stops it',
  { timeout: 60_000 },
  async (t) => {
    const ctx = await openContext(browser, app);
    t.after(() => ctx.close());
    const query = new URLSearchParams({ ws: server.wsUrl('/ws'), echo: server.wsUrl('/echo'), sync: '1' });
    const synced = (tabs) => document.getElementById('sync')?.dataset.tabs === String(tabs);
    const a = await ctx.newPage(`/index.html?${query}`, { waitForSetup: false, ready: mounted });
    const b = await ctx.newPage(`/index.html?${query}`, { waitForSetup: false, ready: mounted });
    for (const each of [a, b]) await each.waitForFunction(synced, 2);
    const leaders = await Promise.all(
      [a, b].map((each) => each.evaluate(() => document.getElementById('sync').dataset.leader)),
    );
    assert.deepEqual([...leaders].sort(), ['false', 'true']);
    // StrictMode's double mount started one sync per document: A heard one state request of each.
    const requests = (bus) => bus.filter((m) => m.type === 'STATE_REQUEST').map((m) => m.tabId);
    const ids = await Promise.all(
      [a, b].map((each) => each.evaluate(() => document.getElementById('sync').dataset.id)),
    );
    assert.deepEqual(requests(await a.evaluate(() => window.syncBus)), ids);

    await b.evaluate(submit, ['sync', 'dark']);
    await a.waitForFunction(() => document.getElementById('sync').dataset.theme === 'dark');

    // B unmounts its sync: it stops (its tab leaves the election), and A leads alone.
    await b.evaluate(click, 'show-sync');
    await a.waitForFunction(
      () =>
        document.getElementById('sync').dataset.tabs === '1' &&
        document.getElementById('sync').dataset.leader === 'true',
    );
    for (const each of [a, b]) assert.deepEqual(unexpectedErrors(each.errors), []);
  },
);
