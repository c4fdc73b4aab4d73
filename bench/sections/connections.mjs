// Connections: what the server holds for N tabs that each open one socket to the same URL.
import { fmt, openSockets, openTabs, ratio, table } from '../lib.mjs';

const KINDS = ['native', 'library'];

export async function run({ browser, server, quick }) {
  const counts = quick ? [1, 4] : [1, 4, 8, 16];
  const rows = [];
  for (const tabs of counts) {
    const row = { tabs };
    for (const kind of KINDS) {
      const session = await openTabs(browser, server, tabs);
      try {
        await openSockets(session.tabs, kind, server.wsUrl('/echo'));
        row[kind] = (await server.stats()).connections;
      } finally {
        await session.close();
      }
    }
    rows.push(row);
  }
  const markdown = [
    '### Connections held by the server',
    '',
    table(
      ['tabs', 'native WebSocket per tab', 'BroadcastWebsocket', 'ratio'],
      rows.map((r) => [r.tabs, r.native, r.library, fmt.ratio(ratio(r.library, r.native))]),
    ),
  ];
  return { results: rows, markdown };
}
