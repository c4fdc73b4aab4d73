// The demo (npm run demo), end to end: the studio page's widget iframes, a widget in another tab
// and the sender share ONE server connection; a chat message reaches every widget and is
// acknowledged; the live counter shows the one connection; after the leader tab closes, the widget
// left subscribes again through the new leader and gets the next message.
// Run: node --test tests/demo/   (needs target/debug/bws-server and dist/)
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  openContext,
  startServerAndBrowser,
  stopServerAndBrowser,
  unexpectedErrors,
  waitForStats,
} from '../harness.mjs';

let server;
let browser;
// As npm run demo starts it: the chat channel keeps history.
before(
  async () => ({ server, browser } = await startServerAndBrowser({ server: { env: { PERSISTENT_CHANNELS: 'chat' } } })),
);
after(() => stopServerAndBrowser({ server, browser }));

const widgetOpen = () => window.widgetSocket?.readyState === 1;
const channelConnections = (n) => (s) => s.channels?.connections === n;

test('widgets in iframes and tabs share one connection; a chat message reaches all of them', async (t) => {
  const ctx = await openContext(browser, server);
  t.after(() => ctx.close());

  const studio = await ctx.newPage('/examples/index.html', { waitForSetup: false });
  const frames = await Promise.all(['widget-0', 'widget-1', 'widget-2'].map((name) => frameOf(studio, name)));
  const sender = await frameOf(studio, 'sender');
  const tab = await ctx.newPage('/examples/widget.html?look=count&scene=1', { waitForSetup: false });
  await Promise.all([...frames, tab].map((w) => w.waitForFunction(widgetOpen, undefined, 10000)));

  await waitForStats(server, channelConnections(1), 5000);
  await studio.waitForFunction(() => document.getElementById('connections').textContent === '1');

  await sender.evaluate(() => {
    document.getElementById('text').value = 'hello from the test';
    document.getElementById('send').requestSubmit();
  });
  const [chat, ticker, count] = frames;
  await chat.waitForFunction(() => document.getElementById('widget').textContent.includes('hello from the test'));
  await ticker.waitForFunction(() => document.getElementById('widget').textContent === 'viewer: hello from the test');
  await count.waitForFunction(() => document.getElementById('widget').textContent === '1');
  await tab.waitForFunction(() => document.getElementById('widget').textContent === '1');
  await sender.waitForFunction(() => document.querySelector('#sent li')?.dataset.state === 'acknowledged');

  // Still one connection: every widget subscribed through the same socket.
  assert.equal((await server.stats()).channels.connections, 1);

  // One of the studio's frames leads (they connected first). Closing the studio hands the socket to
  // the widget tab, whose widget subscribes again on the new connection and gets the next message.
  assert.equal(await tab.evaluate(() => window.widgetSocket.status().isLeader), false);
  await studio.close();
  await tab.waitForFunction(() => window.widgetSocket.status().isLeader, undefined, 10000);
  await tab.waitForFunction(widgetOpen, undefined, 10000);
  await waitForStats(server, (s) => s.channels?.connections === 1 && s.channels?.subscriptions?.chat === 1, 5000);
  const res = await fetch(`${server.origin}/broadcast`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ channel: 'chat', data: { user: 'http', text: 'after the handover' } }),
  });
  assert.equal(res.status, 200, await res.text());
  await tab.waitForFunction(() => document.getElementById('widget').textContent === '2');

  assert.deepEqual(unexpectedErrors(tab.errors), []);
});

/** The openContext-style wrapper of a named iframe of `page`, once it exists. */
function frameOf(page, name) {
  return page.frame(name, { ready: () => document.readyState === 'complete' });
}
