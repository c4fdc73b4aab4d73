// Memory: the JS heap (CDP Runtime.getHeapUsage after a forced GC) of each tab's page plus its
// workers, with one open socket per tab: BroadcastWebsocket's leader and follower tabs against a
// native WebSocket per tab. `backingStorageSize` (ArrayBuffer backing stores) is reported beside it.
import { fmt, openSockets, openTabs, ratio, summary, table } from '../lib.mjs';

/** Heap of a page and of every worker it runs, over CDP (workers through auto-attach). */
async function heapOf({ native: page }) {
  const cdp = await page.context().newCDPSession(page);
  try {
    const workers = [];
    cdp.on('Target.attachedToTarget', ({ sessionId, targetInfo }) => {
      if (targetInfo.type === 'worker') workers.push(sessionId);
    });
    // Without flatten, a worker's session is spoken to through the page's.
    let nextId = 1;
    const pending = new Map();
    cdp.on('Target.receivedMessageFromTarget', ({ message }) => {
      const reply = JSON.parse(message);
      pending.get(reply.id)?.(reply.result);
    });
    const inWorker = (sessionId, method) =>
      new Promise((resolve) => {
        const id = nextId++;
        pending.set(id, resolve);
        cdp.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id, method }) });
      });
    // Attaching reports the targets that already exist before this call returns.
    await cdp.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: false, flatten: false });
    const usage = [];
    for (const sessionId of workers) {
      await inWorker(sessionId, 'HeapProfiler.collectGarbage');
      usage.push(await inWorker(sessionId, 'Runtime.getHeapUsage'));
    }
    await cdp.send('HeapProfiler.collectGarbage');
    const pageUsage = await cdp.send('Runtime.getHeapUsage');
    const sum = (key) => usage.reduce((s, u) => s + u[key], 0);
    return {
      page: pageUsage.usedSize,
      workers: sum('usedSize'),
      workerCount: workers.length,
      total: pageUsage.usedSize + sum('usedSize'),
      backingStore: pageUsage.backingStorageSize + sum('backingStorageSize'),
    };
  } finally {
    await cdp.detach();
  }
}

export async function run({ browser, server, quick }) {
  const trials = quick ? 1 : 3;
  const samples = { native: [], leader: [], follower: [] };
  for (let n = 0; n < trials; n++) {
    for (const kind of ['native', 'library']) {
      const session = await openTabs(browser, server, 2);
      try {
        await openSockets(session.tabs, kind, server.wsUrl('/echo'));
        const [first, second] = await Promise.all(session.tabs.map((tab) => heapOf(tab.page)));
        if (kind === 'native') samples.native.push(first, second);
        else [samples.leader, samples.follower].forEach((list, k) => list.push([first, second][k]));
      } finally {
        await session.close();
      }
    }
  }
  const results = {};
  for (const [who, list] of Object.entries(samples)) {
    results[who] = Object.fromEntries(
      ['page', 'workers', 'total', 'backingStore'].map((key) => [key, summary(list.map((m) => m[key]))]),
    );
    results[who].workerCount = list[0].workerCount;
  }
  results.ratio = {
    leader: ratio(results.leader.total.median, results.native.total.median),
    follower: ratio(results.follower.total.median, results.native.total.median),
  };
  const row = (name, r, vs) => [
    name,
    fmt.mib(r.page.median),
    r.workerCount ? fmt.mib(r.workers.median) : '–',
    fmt.mib(r.total.median),
    fmt.mib(r.backingStore.median),
    vs == null ? '–' : fmt.ratio(vs),
  ];
  const markdown = [
    `### Memory per tab, one open socket (median of ${trials}; JS heap after GC)`,
    '',
    table(
      ['tab', 'page heap', 'worker heap', 'page + worker', 'ArrayBuffer backing stores', '÷ native'],
      [
        row('native WebSocket', results.native),
        row('BroadcastWebsocket, leader tab', results.leader, results.ratio.leader),
        row('BroadcastWebsocket, follower tab', results.follower, results.ratio.follower),
      ],
    ),
  ];
  return { results, markdown };
}
