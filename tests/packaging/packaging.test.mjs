// Packaging: `npm pack` the repo, install the tarball into two throwaway fixtures (a plain-HTML
// ES module page, and a CommonJS entry bundled by esbuild with default options), serve each from
// its own loopback origin, and exchange a message with bws-server from the engine under test; the
// channels and sync subpaths from both fixtures too (an import map in the module page). Also checks
// the tarball's file list and that node can require() and import() the installed package.
// (The React subpath has a Vite + React fixture of its own: react.test.mjs.)
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';
import { launchBrowser, openPage, startServer, startStaticServer } from '../harness.mjs';
import { html, makeFixture as installInto, packPackage } from './fixtures.mjs';

let tmp;
let packed; // npm pack --json entry: { filename, files: [{ path }] }
let tarball;
let server;
let browser;
const statics = [];
const fixtures = {};

// The page-side exchange, shared by both fixtures: open, send, await the echo, report on
// window.result. `BroadcastWebsocket` and `WS_URL` are in scope where this text is inlined.
const exchangeScript = `
const ws = new BroadcastWebsocket(WS_URL);
const sent = 'hello from the fixture ' + Math.random();
ws.onopen = () => ws.send(sent);
ws.onmessage = (e) => {
  window.result = { echoed: e.data === sent, data: e.data, readyState: ws.readyState };
  ws.close();
};
ws.onclose = (e) => {
  window.result ??= { error: 'closed before the echo: ' + e.code };
};
`;

// The channels client's exchange: subscribe, broadcast, get it back through the service.
const channelsScript = `
const client = createChannelsClient(WS_URL);
client.subscribe('fixture', (data) => {
  window.result = { got: data };
  client.close();
});
client.broadcast('fixture', 'hello from the fixture').catch((error) => {
  window.result ??= { error: String(error) };
});
`;

// State sync alone in its tab: the election (the package's worker) makes it the leader.
const syncScript = `
let state = { theme: 'light' };
const listeners = new Set();
const store = {
  getState: () => state,
  setState: (partial) => {
    const previous = state;
    state = { ...state, ...partial };
    for (const listener of listeners) listener(state, previous);
  },
  subscribe: (listener) => (listeners.add(listener), () => listeners.delete(listener)),
};
const sync = createBroadcastSync(store, { channelName: 'fixture' });
sync.addEventListener('leaderchange', () => {
  if (window.result) return; // stop(), below, is a leader change too
  window.result = { leader: sync.isLeader(), active: sync.isActive() };
  sync.stop();
});
sync.start();
`;

/** The subpaths the fixtures load, each with its entry point, its page script and what it reports. */
const SUBPATHS = {
  channels: { entry: 'createChannelsClient', script: channelsScript, result: { got: 'hello from the fixture' } },
  sync: { entry: 'createBroadcastSync', script: syncScript, result: { leader: true, active: true } },
};

const makeFixture = (name) => installInto(tmp, tarball, name);

before(
  async () => {
    ({ tmp, packed, tarball } = await packPackage());

    server = await startServer();
    browser = await launchBrowser();
    const wsUrl = server.wsUrl(); // absolute: the fixtures are served from another origin

    // (a) plain HTML importing the installed ES module directly.
    fixtures.esm = await makeFixture('esm');
    await writeFile(
      path.join(fixtures.esm, 'index.html'),
      html(`    <script type="module">
      import { BroadcastWebsocket } from './node_modules/broadcast-websocket/dist/index.js';
      const WS_URL = ${JSON.stringify(wsUrl)};
      ${exchangeScript}
    </script>`),
    );

    // (b) CommonJS entry bundled by esbuild with default options into a classic script.
    fixtures.cjs = await makeFixture('cjs');
    await writeFile(
      path.join(fixtures.cjs, 'entry.js'),
      `const { BroadcastWebsocket } = require('broadcast-websocket');
const WS_URL = ${JSON.stringify(wsUrl)};
${exchangeScript}`,
    );
    fixtures.cjsBuild = await esbuild.build({
      absWorkingDir: fixtures.cjs,
      entryPoints: ['entry.js'],
      outfile: 'bundle.js',
      bundle: true,
      format: 'iife',
      platform: 'browser',
      logLevel: 'silent',
    });
    await writeFile(path.join(fixtures.cjs, 'index.html'), html('    <script src="bundle.js"></script>'));

    // (c) the subpaths, from a plain module page with an import map, and bundled from CommonJS.
    const imports = { 'broadcast-websocket': './node_modules/broadcast-websocket/dist/index.js' };
    for (const name of Object.keys(SUBPATHS)) {
      imports[`broadcast-websocket/${name}`] = `./node_modules/broadcast-websocket/dist/${name}.js`;
    }
    for (const [name, { entry, script }] of Object.entries(SUBPATHS)) {
      const WS_URL = `const WS_URL = ${JSON.stringify(server.wsUrl('/ws'))};`;
      await writeFile(
        path.join(fixtures.esm, `${name}.html`),
        html(`    <script type="importmap">${JSON.stringify({ imports })}</script>
    <script type="module">
      import { ${entry} } from 'broadcast-websocket/${name}';
      ${WS_URL}
      ${script}
    </script>`),
      );
      await writeFile(
        path.join(fixtures.cjs, `${name}-entry.js`),
        `const { ${entry} } = require('broadcast-websocket/${name}');\n${WS_URL}\n${script}`,
      );
      fixtures[`${name}Build`] = await esbuild.build({
        absWorkingDir: fixtures.cjs,
        entryPoints: [`${name}-entry.js`],
        outfile: `${name}-bundle.js`,
        bundle: true,
        format: 'iife',
        platform: 'browser',
        logLevel: 'silent',
      });
      await writeFile(path.join(fixtures.cjs, `${name}.html`), html(`    <script src="${name}-bundle.js"></script>`));
    }

    // Loads from node: a tiny ESM module in the fixture resolves the package like an app would.
    await writeFile(path.join(fixtures.esm, 'probe.mjs'), "export * from 'broadcast-websocket';\n");
    for (const name of Object.keys(SUBPATHS)) {
      await writeFile(path.join(fixtures.esm, `${name}-probe.mjs`), `export * from 'broadcast-websocket/${name}';\n`);
    }
  },
  { timeout: 180_000 },
);

after(async () => {
  await browser?.close();
  await server?.stop();
  for (const s of statics) await s.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

// Serves `dir` on its own loopback origin, loads `page` and waits for window.result.
async function exchangeFrom(t, dir, page = '/index.html') {
  const origin = await startStaticServer(dir);
  statics.push(origin);
  const p = await openPage(browser, origin, page);
  t.after(() => p.close());
  const result = await p
    .waitForFunction(() => window.result, undefined, 15_000)
    .catch((e) => {
      throw new Error(`no window.result (page errors: ${JSON.stringify(p.errors)}): ${e.message}`);
    });
  return { result, errors: p.errors };
}

describe('npm package', () => {
  test('the tarball holds only dist/**, package.json, README.md and LICENSE*', () => {
    const files = packed.files.map((f) => f.path).sort();
    const allowed = (f) => f.startsWith('dist/') || ['package.json', 'README.md'].includes(f) || /^LICENSE/.test(f);
    assert.deepEqual(
      files.filter((f) => !allowed(f)),
      [],
    );
    const subpaths = ['channels', 'react', 'sync'].flatMap((name) =>
      ['js', 'cjs', 'd.ts', 'd.cts'].map((ext) => `dist/${name}.${ext}`),
    );
    for (const required of ['dist/index.js', 'dist/index.cjs', 'dist/worker.js', 'package.json', ...subpaths]) {
      assert.ok(files.includes(required), `${required} is in the tarball (got ${files})`);
    }
  });

  test('node: require() and import() of the installed package expose BroadcastWebsocket and BroadcastElection', async () => {
    const required = createRequire(path.join(fixtures.cjs, 'package.json'))('broadcast-websocket');
    const imported = await import(pathToFileURL(path.join(fixtures.esm, 'probe.mjs')).href);
    for (const name of ['BroadcastWebsocket', 'BroadcastElection']) {
      assert.equal(typeof required[name], 'function', `require: ${name}`);
      assert.equal(typeof imported[name], 'function', `import: ${name}`);
    }
  });

  for (const [name, { entry }] of Object.entries(SUBPATHS)) {
    test(`node: require() and import() of broadcast-websocket/${name} expose ${entry}`, async () => {
      const required = createRequire(path.join(fixtures.cjs, 'package.json'))(`broadcast-websocket/${name}`);
      assert.equal(typeof required[entry], 'function');
      const imported = await import(pathToFileURL(path.join(fixtures.esm, `${name}-probe.mjs`)).href);
      assert.equal(typeof imported[entry], 'function');
    });
  }

  for (const [subpath, { result: expected }] of Object.entries(SUBPATHS)) {
    for (const [name, fixture, bundled] of [
      ['a plain module page with an import map', 'esm', false],
      ['CommonJS require() bundled by esbuild', 'cjs', true],
    ]) {
      test(`broadcast-websocket/${subpath} from ${name}`, async (t) => {
        if (bundled) {
          const { warnings } = fixtures[`${subpath}Build`];
          assert.deepEqual(
            warnings.map((w) => w.text),
            [],
            'esbuild bundled without warnings',
          );
        }
        const { result, errors } = await exchangeFrom(t, fixtures[fixture], `/${subpath}.html`);
        assert.deepEqual(result, expected);
        assert.deepEqual(errors, []);
      });
    }
  }

  test('plain HTML + ES module from node_modules: open, send, echo', async (t) => {
    const { result, errors } = await exchangeFrom(t, fixtures.esm);
    assert.deepEqual(
      { echoed: result.echoed, readyState: result.readyState, error: result.error },
      { echoed: true, readyState: 1, error: undefined },
    );
    assert.deepEqual(errors, []);
  });

  test('CommonJS require() bundled by esbuild (iife, defaults): open, send, echo', async (t) => {
    assert.deepEqual(
      fixtures.cjsBuild.warnings.map((w) => w.text),
      [],
      'esbuild bundled without warnings',
    );
    const { result, errors } = await exchangeFrom(t, fixtures.cjs);
    assert.deepEqual(
      { echoed: result.echoed, readyState: result.readyState, error: result.error },
      { echoed: true, readyState: 1, error: undefined },
    );
    assert.deepEqual(errors, []);
  });
});
