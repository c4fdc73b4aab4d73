// Differential compatibility test: every scenario of tests/pages/differential/scenarios.js runs three
// ways in one browser (BWS_ENGINE) against the local server: `native` (the browser's WebSocket), `leader`
// (BroadcastWebsocket, the only tab) and `follower` (BroadcastWebsocket in a tab whose connection is
// already held by another tab of the same browser context). Each run records a trace (events,
// calls, exceptions, readyState and properties at every step); each library trace must equal the
// native one except for the differences declared in ./deviations.mjs, which must occur as declared.
// Run: node --test tests/differential/   (needs dist/ and target/debug/bws-server)
// BWS_DIFFERENTIAL_ONLY=<regexp> runs only the scenarios whose name matches; BWS_DIFFERENTIAL_DUMP=1
// prints every trace; BWS_DIFFERENTIAL_MODES=leader (or follower) runs only that library mode.
/* global differential -- page global (tests/pages/differential/runner.js), used inside evaluate callbacks */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ENGINE, launchBrowser, onEngine, openContext, startServer, unusedPort, within } from '../harness.mjs';
import { SCENARIOS } from '../pages/differential/scenarios.js';
import { applyDeviations, formatEntry, normalise, traceDiff } from './compare.mjs';
import { DEVIATIONS, ENGINE_GAPS } from './deviations.mjs';

const PAGE = '/tests/pages/differential/index.html';
const ready = () => window.differential;
const ALL_LIBRARY_MODES = ['leader', 'follower'];
const LIBRARY_MODES = ALL_LIBRARY_MODES.filter(
  (m) => !process.env.BWS_DIFFERENTIAL_MODES || process.env.BWS_DIFFERENTIAL_MODES.split(',').includes(m),
);
/**
 * Follower mode runs on Chromium only, to keep npm test within its time budget: on Firefox and WebKit
 * the library's events come from the same worker either way, and relaying is what the multi-tab suite
 * proves there (README, "Engines").
 */
const followerOnChromium = 'follower mode runs on Chromium only (time budget; README, "Engines")';
const MODE_SKIP = { leader: false, follower: onEngine({ firefox: followerOnChromium, webkit: followerOnChromium }) };

/** Upper bound for one scenario run in the page (its own waits are bounded by 5 s each). */
const RUN_MS = 60000;

let server;
let browser;
let env;
/**
 * The pages each mode runs in, in a browser context of its own, made once: each run loads them
 * again (a fresh document, worker and scope state, in a third of a new context's time).
 */
const sessions = {};
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  env = { port: server.port, unusedPort: await unusedPort() };
});

const summary = { matched: 0, total: 0, withDeviations: 0, todo: 0, failed: [] };
after(async () => {
  for (const session of Object.values(sessions)) await (await session).ctx.close();
  await browser?.close();
  await server?.stop();
  console.log(
    `differential: ${summary.matched} of ${summary.total} scenario × mode traces matched native` +
      ` (${summary.withDeviations} with documented deviations)`,
  );
  if (summary.todo) console.log(`differential: ${summary.todo} scenario × mode runs todo`);
  if (summary.failed.length) console.log(`differential: mismatched: ${summary.failed.join('; ')}`);
});

// Every declared deviation must name a scenario and modes that exist (a typo would silently never apply).
for (const d of DEVIATIONS) {
  assert.ok(
    SCENARIOS.some((s) => s.name === d.scenario),
    `deviations.mjs names an unknown scenario: ${d.scenario}`,
  );
  assert.ok(
    d.modes.length > 0 && d.modes.every((m) => ALL_LIBRARY_MODES.includes(m)),
    `deviations.mjs: bad modes for ${d.scenario}`,
  );
  assert.ok(d.reason && d.differences.length > 0, `deviations.mjs: ${d.scenario} needs a reason and differences`);
}

for (const [engine, gaps] of Object.entries(ENGINE_GAPS)) {
  for (const name of Object.keys(gaps)) {
    assert.ok(
      SCENARIOS.some((s) => s.name === name),
      `deviations.mjs: ENGINE_GAPS.${engine} names an unknown scenario: ${name}`,
    );
  }
}

/** The mode's context and pages: the page under test, and in follower mode the holder tab. */
function sessionOf(mode) {
  sessions[mode] ??= (async () => {
    const ctx = await openContext(browser, server);
    const page = await ctx.newPage(PAGE, { ready });
    const holder = mode === 'follower' ? await ctx.newPage(PAGE, { ready }) : undefined;
    return { ctx, page, holder };
  })();
  return sessions[mode];
}

/**
 * Runs scenario `name` in the mode's pages, each loaded again first. In follower mode the holder tab
 * then opens (and keeps) the scenario's connections before the page under test runs it.
 */
async function runMode(name, mode) {
  const { page, holder } = await sessionOf(mode);
  await page.reload();
  let held = [];
  if (holder) {
    await holder.reload();
    held = await within(
      holder.evaluate((arg) => differential.hold(arg), { name, env }),
      RUN_MS,
      `the holder tab of ${name}`,
    );
    await page.evaluate(
      (scopes) => differential.setHeld(scopes),
      held.map((h) => h.scope),
    );
  }
  const cls = mode === 'native' ? 'native' : 'library';
  const result = await within(
    page.evaluate((arg) => differential.run(arg), { name, cls, env, mode }),
    RUN_MS,
    `${name} (${mode})`,
  );
  return { ...result, entries: normalise(result.entries, env), held };
}

/** What else a library run must satisfy: the runner did not fail, and each instance had the intended role. */
function checkRole(run, mode) {
  const problems = [];
  if (run.failure) problems.push(`the scenario threw in the page: ${run.failure}`);
  for (const [name, roles] of Object.entries(run.meta.isLeaderAtOpen)) {
    const want = mode === 'leader';
    if (roles.some((r) => r !== want)) {
      problems.push(`${name} opened with isLeader ${roles}, expected ${want} (${mode})`);
    }
  }
  if (run.meta.unheld.length) {
    problems.push(`follower scopes the other tab did not hold: ${run.meta.unheld.join(', ')}`);
  }
  const notHeld = run.held.filter((h) => h.state === 'open' && !h.isLeader);
  if (notHeld.length) problems.push(`the holder tab was not the leader of: ${notHeld.map((h) => h.scope).join(', ')}`);
  return problems;
}

function dump(name, mode, lines) {
  if (process.env.BWS_DIFFERENTIAL_DUMP) console.log(`--- ${name} (${mode})\n${lines.join('\n')}`);
}

const hasDeflate = (entries) => entries.some((e) => /permessage-deflate/.test(e.extensions ?? ''));

describe('differential: BroadcastWebsocket vs the native WebSocket', () => {
  const only = process.env.BWS_DIFFERENTIAL_ONLY ? new RegExp(process.env.BWS_DIFFERENTIAL_ONLY) : null;
  for (const scenario of SCENARIOS.filter((s) => !only || only.test(s.name))) {
    test(scenario.name, async (t) => {
      const native = await runMode(scenario.name, 'native');
      assert.equal(native.failure, null, `the scenario threw in the page (native): ${native.failure}`);
      const gap = ENGINE_GAPS[ENGINE]?.[scenario.name];
      // A scenario's waits end on events; one that times out natively waits on nothing it can see,
      // unless the engine's own WebSocket is the one that never gets there (a declared gap).
      const timeouts = native.entries.filter((e) => e.key.startsWith('timeout waiting for'));
      if (!gap) assert.deepEqual(timeouts, [], 'the scenario timed out waiting with the native WebSocket');
      if (scenario.needs === 'deflate' && !hasDeflate(native.entries)) {
        summary.todo += LIBRARY_MODES.length;
        t.todo('the server does not negotiate permessage-deflate yet (?deflate=1): extensions stay empty');
        return;
      }
      const nativeLines = native.entries.map(formatEntry);
      dump(scenario.name, 'native', nativeLines);
      for (const mode of LIBRARY_MODES) {
        await t.test(mode, { skip: MODE_SKIP[mode], todo: gap && `${ENGINE}: ${gap}` }, async () => {
          summary.total++;
          const run = await runMode(scenario.name, mode);
          dump(scenario.name, mode, run.entries.map(formatEntry));
          const declared = DEVIATIONS.filter((d) => d.scenario === scenario.name && d.modes.includes(mode));
          const differences = declared.flatMap((d) => d.differences);
          const applied = applyDeviations(native.entries, run.entries, differences);
          const problems = [...checkRole(run, mode), ...applied.problems];
          const diff = traceDiff(
            applied.native.map(formatEntry),
            applied.library.map(formatEntry),
            `${scenario.name} — ${mode}`,
          );
          if (diff || problems.length) {
            summary.failed.push(`${scenario.name} (${mode})`);
            const full = [
              ...problems,
              diff ?? '',
              `native trace:\n${nativeLines.map((l, k) => `  ${String(k + 1).padStart(3)}  ${l}`).join('\n')}`,
            ];
            assert.fail(full.filter(Boolean).join('\n'));
          }
          summary.matched++;
          if (declared.length) summary.withDeviations++;
        });
      }
    });
  }
});
