// Takeover: the leader tab of 4 goes away — its page closed, or its renderer crashed — and we time
// until every follower is OPEN again on the new leader's socket (default options: Web Locks; and
// the lease, as on an insecure page, where a closing page's farewell spares the leader timeout and a
// crash does not), against the main-thread relay baseline (broadcast-channel's LeaderElection)
// losing its leader the same way.
// A native WebSocket per tab has no leader to lose, so it has no row here.
/* global bench -- page global (bench/pages/tab.js), used inside evaluate callbacks */
import { crashPage, within } from '../../tests/harness.mjs';
import { assertLeader, fmt, openSockets, openTabs, ratio, summary, table } from '../lib.mjs';

const TABS = 4;
/** What loses its leader: the library with each election, and the relay baseline. */
const KINDS = {
  library: { kind: 'library', options: {} },
  lease: { kind: 'library', options: { election: 'lease' } },
  relay: { kind: 'relay', options: {} },
};

/** Ways to lose the leader tab; each resolves with the time (Date.now()) it struck. */
const HOW = {
  async closed(tab) {
    const at = Date.now();
    await tab.page.close();
    return at;
  },
  crashed: async (tab) => (await crashPage(tab.page)).sentAt,
};

async function trial(browser, server, { kind, options }, how) {
  const session = await openTabs(browser, server, TABS);
  try {
    const [leader, ...followers] = session.tabs;
    await openSockets(session.tabs, kind, server.wsUrl('/echo'), options);
    await assertLeader(leader);
    // Opens after this point are the takeover's; timing starts when the leader is lost.
    const armed = Date.now();
    const reopened = followers.map((tab) => tab.evaluate((t) => bench.openedAfter(0, t), armed));
    const lost = await HOW[how](leader);
    const times = await within(Promise.all(reopened), 30000, `${kind} followers to open again`);
    return Math.max(...times) - lost;
  } finally {
    await session.close();
  }
}

export async function run({ browser, server, quick }) {
  const trials = quick ? 1 : 10;
  const results = {};
  for (const how of Object.keys(HOW)) {
    const samples = { library: [], lease: [], relay: [] };
    for (let n = 0; n < trials; n++) {
      for (const [name, kind] of Object.entries(KINDS)) samples[name].push(await trial(browser, server, kind, how));
    }
    const [library, lease, relay] = [summary(samples.library), summary(samples.lease), summary(samples.relay)];
    results[how] = { library, lease, relay, ratio: ratio(library.median, relay.median) };
  }
  const markdown = [
    `### Takeover: leader tab of ${TABS} lost → every follower OPEN again (median, min–max of ${trials})`,
    '',
    table(
      [
        'leader',
        'BroadcastWebsocket (default options, Web Locks)',
        'BroadcastWebsocket, lease (as on an insecure page)',
        'main-thread relay (broadcast-channel LeaderElection)',
        'ratio (Web Locks ÷ relay)',
      ],
      Object.entries(results).map(([how, r]) => [
        `page ${how}`,
        fmt.range(r.library),
        fmt.range(r.lease),
        fmt.range(r.relay),
        fmt.ratio(r.ratio),
      ]),
    ),
  ];
  return { results, markdown };
}
