// Back/forward cache (Chromium): can a page be restored from the cache after navigating away and
// back, and if not, why (the NotRestoredReasons API) — a page holding nothing, one holding a native
// WebSocket, and one holding a BroadcastWebsocket (open, or closed again). Playwright launches
// Chromium with the cache disabled, so this section starts a Chromium of its own with it enabled.
import { chromium } from 'playwright-core';
import { table } from '../lib.mjs';

const KINDS = {
  'nothing (control)': null,
  'a native WebSocket, open': 'native',
  'a BroadcastWebsocket, open': 'library',
  'a BroadcastWebsocket, closed again': 'library-closed',
};

async function trial(context, server, kind) {
  const page = await context.newPage();
  try {
    await page.goto(`${server.origin}/tests/pages/no-wasm.html`);
    await page.waitForFunction(() => window.BroadcastWebsocket);
    await page.evaluate(
      async ([kind, url]) => {
        addEventListener('pageshow', (event) => (window.restored = event.persisted));
        if (!kind) return;
        const ws = kind === 'native' ? new WebSocket(url) : new window.BroadcastWebsocket(url);
        await new Promise((resolve) => (ws.onopen = resolve));
        if (kind === 'library-closed') {
          ws.close();
          await new Promise((resolve) => (ws.onclose = resolve));
        }
        window.socket = ws;
      },
      [kind, server.wsUrl('/echo')],
    );
    await page.goto(`${server.origin}/tests/pages/blank.html`);
    // A page restored from the cache fires no load event: wait for the commit, then for pageshow.
    await page.goBack({ waitUntil: 'commit' });
    await page.waitForFunction(() => window.restored !== undefined || document.readyState === 'complete');
    return page.evaluate(() => {
      const entry = performance.getEntriesByType('navigation')[0];
      const reasons = entry.notRestoredReasons?.reasons?.map((r) => r.reason) ?? [];
      return { restored: window.restored === true, reasons };
    });
  } finally {
    await page.close();
  }
}

export async function run({ server }) {
  const browser = await chromium.launch({
    executablePath: process.env.BWS_CHROMIUM || '/usr/bin/chromium',
    ignoreDefaultArgs: ['--disable-back-forward-cache'],
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
  });
  const results = {};
  try {
    const context = await browser.newContext();
    for (const [label, kind] of Object.entries(KINDS)) results[label] = await trial(context, server, kind);
  } finally {
    await browser.close();
  }
  const markdown = [
    '### Back/forward cache: restored after navigating away and back? (Chromium, NotRestoredReasons)',
    '',
    table(
      ['the page held', 'restored', 'reasons'],
      Object.entries(results).map(([label, r]) => [label, r.restored ? 'yes' : 'no', r.reasons.join(', ') || '–']),
    ),
  ];
  return { results, markdown };
}
