// Takeover: the leader tab of 4 goes away — its page closed, or its renderer crashed — and we time
// until every follower is OPEN again on the new leader's socket (default options), against the
// main-thread relay baseline (broadcast-channel's LeaderElection) losing its leader the same way.
// A native WebSocket per tab has no leader to lose, so it has no row here.
/* global bench -- page global (bench/pages/tab.js), used inside evaluate callbacks */
import { within } from '../../tests/harness.mjs';
import { fmt, openSockets, openTabs, ratio, summary, table } from '../lib.mjs';

const TABS = 4;
const KINDS = ['library', 'relay'];

const HOW = {
  closed: (tab) => tab.page.close(),
  async crashed(tab) {
    const cdp = await tab.page.context().newCDPSession(tab.page);
    const crashed = new Promise((resolve) => tab.page.once('crash', resolve));
    cdp.send('Page.crash').catch(() => {}); // never answers: the page is gone
    await within(crashed, 5000, 'the crash of the leader page');
  },
};

async function trial(browser, server, kind, how) {
  const session = await openTabs(browser, server, TABS);
  try {
    const [leader, ...followers] = session.tabs;
    await openSockets(session.tabs, kind, server.wsUrl('/echo'));
    if (!(await leader.evaluate(() => bench.leadership(0))).isLeader) throw new Error(`${kind}: tab 0 does not lead`);
    const t0 = Date.now();
    const reopened = followers.map((tab) => tab.evaluate((t) => bench.openedAfter(0, t), t0));
    await HOW[how](leader);
    const times = await within(Promise.all(reopened), 30000, `${kind} followers to open again`);
    return Math.max(...times) - t0;
  } finally {
    await session.close();
  }
}

export async function run({ browser, server, quick }) {
  const trials = quick ? 2 : 10;
  const results = {};
  for (const how of Object.keys(HOW)) {
    const samples = { library: [], relay: [] };
    for (let n = 0; n < trials; n++) {
      for (const kind of KINDS) samples[kind].push(await trial(browser, server, kind, how));
    }
    const [library, relay] = [summary(samples.library), summary(samples.relay)];
    results[how] = { library, relay, ratio: ratio(library.median, relay.median) };
  }
  const markdown = [
    `### Takeover: leader tab of ${TABS} lost → every follower OPEN again (median, min–max of ${trials})`,
    '',
    table(
      [
        'leader',
        'BroadcastWebsocket (default options, Web Locks)',
        'main-thread relay (broadcast-channel LeaderElection)',
        'ratio',
      ],
      Object.entries(results).map(([how, r]) => [
        `page ${how}`,
        fmt.range(r.library),
        fmt.range(r.relay),
        fmt.ratio(r.ratio),
      ]),
    ),
  ];
  return { results, markdown };
}
