// A busy leader page, with a protocol that can resume: the channels client on a persistent channel.
// The leader tab's main thread is blocked 3 s while another client publishes every 100 ms. Where the
// engine runs a worker's socket (Firefox) or bus (WebKit) on its page, a responsive tab takes the
// socket; the messages the stalled socket held are replayed to the new connection from the last id
// each tab saw, so every listener of every tab gets every message once, in order (none lost, none
// duplicated), the followers most of them on time, with at most one leader change. In Chromium the
// worker's socket does not depend on its page: no leader change, the followers all on time.
// Library-only.
/* global ch -- page global (tests/pages/channels/channels.js), used inside evaluate callbacks */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ENGINE, libraryOnly, startServerAndBrowser, stopServerAndBrowser, waitForStats } from '../harness.mjs';
import { channelsClientTabs, publish } from './support.mjs';

let server;
let browser;
before(async () => ({ server, browser } = await startServerAndBrowser({ skip: libraryOnly })));
after(() => stopServerAndBrowser({ server, browser }));

/** The share of the messages published during the block that each follower must get within ON_TIME_MS. */
const ON_TIME_SHARE = 0.8;
const ON_TIME_MS = 500;
const BLOCK_MS = 3000;
const COUNT = 50; // one every 100 ms: 5 s, the block in the middle
const CHANNEL = 'persistent:busy';

test(
  'leader main thread blocked 3 s, a persistent channel: every message once, in order, in every tab; followers on time',
  { skip: libraryOnly },
  async (t) => {
    const tabs = await channelsClientTabs(t, browser, server, 3);
    await Promise.all(tabs.map((tab) => tab.evaluate((c) => ch.listen('feed', c), CHANNEL)));
    await waitForStats(server, (s) => s.channels.connections === 1 && s.channels.subscriptions[CHANNEL] === 1);
    const statuses = await Promise.all(tabs.map((tab) => tab.evaluate(() => ch.client.status())));
    const leader = tabs[statuses.findIndex((s) => s.isLeader)];
    const followers = tabs.filter((tab) => tab !== leader);

    const published = publish(server, { channel: CHANNEL, count: COUNT, everyMs: 100 });
    await followers[0].evaluate(() => ch.until('feed', 5));
    const win = await leader.evaluate((ms) => ch.block(ms), BLOCK_MS);
    assert.equal(await published, COUNT);

    const all = [...Array.from({ length: COUNT }, (_, n) => n), 'end'];
    const report = [];
    for (const [k, tab] of tabs.entries()) {
      const got = await tab.evaluate((n) => ch.until('feed', n, 15000), COUNT + 1);
      assert.deepEqual(
        got.map((d) => d.n ?? d),
        all,
        `tab ${k}: every message once, in order`,
      );
      const events = await tab.evaluate(() => ch.events.map((e) => (e.type === 'close' ? `close ${e.code}` : e.type)));
      if (ENGINE === 'chromium') assert.deepEqual(events, [], `tab ${k}: no leader change in Chromium`);
      else assert.ok(events.length === 0 || events.join() === 'close 1006,open', `tab ${k}: ${events}`);
      if (tab === leader) continue;
      const arrivals = await tab.evaluate(() => ch.arrivals('feed'));
      const during = got.map((d, i) => ({ ...d, at: arrivals[i] })).filter((d) => d.t >= win.start && d.t <= win.end);
      const onTime = during.filter((d) => d.at - d.t <= ON_TIME_MS).length;
      assert.ok(during.length >= 20, `messages were published during the block (${during.length})`);
      report.push(`tab ${k}: ${onTime} of ${during.length} on time, ${events.length ? 'one' : 'no'} leader change`);
      assert.ok(onTime / during.length >= ON_TIME_SHARE, `tab ${k}: ${onTime} of ${during.length} on time`);
    }
    console.log(`[${ENGINE}] leader blocked ${Math.round(win.end - win.start)} ms: ${report.join('; ')}`);
  },
);
