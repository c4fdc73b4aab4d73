// Reconnect storm: the server goes down for 3 s under N tabs that each hold one reconnecting socket
// to it: BroadcastWebsocket with `reconnect` (one loop for all tabs) or partysocket (one loop per
// socket), with the same delays. While it is down, a stand-in on its port fails every handshake and
// counts the attempts (startRefuser); then the server starts again on the same port and the section
// waits until every socket is open again. The pages come from the bench's own server, which stays up.
/* global bench -- page global (bench/pages/tab.js), used inside evaluate callbacks */
import { startRefuser, startServer } from '../../tests/harness.mjs';
import { fmt, openSockets, openTabs, ratio, table } from '../lib.mjs';

const DELAYS = { minReconnectionDelay: 200, maxReconnectionDelay: 800, reconnectionDelayGrowFactor: 2 };
const OPTIONS = { library: { reconnect: true, ...DELAYS }, partysocket: DELAYS };
const OUTAGE_MS = 3000;

/** One outage under `tabs` tabs with a socket of `kind` each. */
async function outage(browser, pages, kind, tabs) {
  let target = await startServer();
  const session = await openTabs(browser, pages, tabs);
  try {
    await openSockets(session.tabs, kind, target.wsUrl('/echo'), OPTIONS[kind]);
    const { port } = target;
    await target.stop();
    const refuser = await startRefuser(port);
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
    await refuser.stop();
    const restarted = Date.now();
    target = await startServer({ port });
    const opens = await Promise.all(session.tabs.map((tab) => tab.evaluate((t) => bench.openedAfter(0, t), restarted)));
    return {
      attempts: refuser.attempts.length,
      overlapping: refuser.attempts.filter((a) => a.overlapping).length,
      backMs: Math.max(...opens) - restarted,
    };
  } finally {
    await session.close();
    await target.stop();
  }
}

export async function run({ browser, server, quick }) {
  const counts = quick ? [1, 6] : [1, 6, 16];
  const rows = [];
  for (const tabs of counts) {
    const row = { tabs, library: await outage(browser, server, 'library', tabs) };
    if (tabs > 1) row.partysocket = await outage(browser, server, 'partysocket', tabs);
    rows.push(row);
  }
  const cell = (r) => (r ? `${r.attempts} (${r.overlapping} at once)` : '–');
  const markdown = [
    `### Reconnect storm: attempts the server's port saw while down for ${OUTAGE_MS / 1000} s`,
    '',
    `Delays ${DELAYS.minReconnectionDelay}–${DELAYS.maxReconnectionDelay} ms, ×${DELAYS.reconnectionDelayGrowFactor}; "at once": attempts made while another was in flight.`,
    '',
    table(
      ['tabs', 'BroadcastWebsocket (one loop)', 'partysocket per tab', 'ratio', 'all open again after the restart'],
      rows.map((r) => [
        r.tabs,
        cell(r.library),
        cell(r.partysocket),
        fmt.ratio(ratio(r.library.attempts, r.partysocket?.attempts)),
        `${fmt.ms(r.library.backMs)} / ${fmt.ms(r.partysocket?.backMs)}`,
      ]),
    ),
  ];
  return { results: rows, markdown };
}
