// The channels client (broadcast-websocket/channels) in real tabs against the real service (/ws):
// subscriptions counted across tabs (read from /stats), each listener's messages once and in order,
// acks and errors, a broadcast retried across a leader change, delivered once, and what another
// client published while the leader tab closed, replayed once on the next connection. Library-only.
/* global ch -- page global (tests/pages/channels/channels.js), used inside evaluate callbacks */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { libraryOnly, startServerAndBrowser, stopServerAndBrowser, waitForStats } from '../harness.mjs';
import { channelsClientTabs, publish } from './support.mjs';

let server;
let browser;
before(async () => ({ server, browser } = await startServerAndBrowser({ skip: libraryOnly })));
after(() => stopServerAndBrowser({ server, browser }));

const clientTabs = (t, n) => channelsClientTabs(t, browser, server, n);

const subscriptions = (stats) => stats.channels.subscriptions;

test(
  'subscriptions are counted across tabs; each listener gets its channel once, in order',
  { skip: libraryOnly },
  async (t) => {
    const [a, b] = await clientTabs(t, 2);
    await a.evaluate(() => {
      ch.listen('a1', 'chat');
      ch.listen('a2', 'chat');
    });
    await b.evaluate(() => {
      ch.listen('b-chat', 'chat');
      ch.listen('b-news', 'news');
    });
    await waitForStats(
      server,
      (s) => s.channels.connections === 1 && subscriptions(s).chat === 1 && subscriptions(s).news === 1,
    );

    // B no longer listens to chat; A still does: the channel stays subscribed, and A gets what follows.
    await b.evaluate(() => ch.stop('b-chat'));
    const acks = await a.evaluate(async () => [await ch.broadcast('chat', 1), await ch.broadcast('chat', 2)]);
    for (const { ack } of acks) assert.equal(ack?.duplicate, false, JSON.stringify(acks));
    assert.deepEqual(await a.evaluate(() => ch.until('a1', 2)), [1, 2]);
    assert.deepEqual(await a.evaluate(() => ch.until('a2', 2)), [1, 2]);
    assert.deepEqual(subscriptions(await server.stats()), { chat: 1, news: 1 });
    // News reaches its listener only; B's stopped chat listener got nothing since it stopped.
    assert.ok((await b.evaluate(() => ch.broadcast('news', 'n1'))).ack);
    assert.deepEqual(await b.evaluate(() => ch.until('b-news', 1)), ['n1']);
    assert.deepEqual(await b.evaluate(() => ch.got('b-chat')), []);
    assert.deepEqual(await a.evaluate(() => [ch.got('a1'), ch.got('a2')]), [
      [1, 2],
      [1, 2],
    ]);

    // The last chat listener anywhere stops: the channel is unsubscribed on the server.
    await a.evaluate(() => {
      ch.stop('a1');
      ch.stop('a2');
    });
    await waitForStats(server, (s) => subscriptions(s).chat === undefined && subscriptions(s).news === 1);
  },
);

test('a refused broadcast rejects with the server error code', { skip: libraryOnly }, async (t) => {
  const [tab] = await clientTabs(t, 1);
  const refused = await tab.evaluate(() => ch.broadcast('bad\u0001name', 1));
  assert.deepEqual(
    [refused.error?.name, refused.error?.code],
    ['ChannelsError', 'bad_request'],
    JSON.stringify(refused),
  );
});

test(
  'a broadcast made as the leader tab goes is retried through the next one and delivered once',
  { skip: libraryOnly },
  async (t) => {
    const tabs = await clientTabs(t, 3);
    await Promise.all(tabs.map((tab) => tab.evaluate(() => ch.listen('feed', 'persistent:feed'))));
    await waitForStats(server, (s) => s.channels.connections === 1 && subscriptions(s)['persistent:feed'] === 1);
    // Every tab has seen a message of the channel: its id is where a replay starts.
    assert.ok((await tabs[0].evaluate(() => ch.broadcast('persistent:feed', 'before'))).ack);
    await Promise.all(tabs.map((tab) => tab.evaluate(() => ch.until('feed', 1))));
    const statuses = await Promise.all(tabs.map((tab) => tab.evaluate(() => ch.client.status())));
    const leader = tabs[statuses.findIndex((s) => s.isLeader)];
    const followers = tabs.filter((tab) => tab !== leader);
    // The follower sends as the leader tab closes: the send, its ack or the message may be lost with
    // the dying socket. A persistent channel: the next connection replays what the tabs missed, by id.
    const outcome = followers[0].evaluate(() => ch.broadcast('persistent:feed', 'across'));
    await leader.close();
    const { ack, error } = await outcome;
    assert.ok(ack, `acked: ${JSON.stringify(error)}`);
    for (const tab of followers) {
      const got = await tab.evaluate(() => ch.until('feed', 2));
      assert.deepEqual(got, ['before', 'across']);
    }
    // A sentinel after it: nothing arrives twice.
    assert.ok((await followers[1].evaluate(() => ch.broadcast('persistent:feed', 'after'))).ack);
    for (const tab of followers) {
      assert.deepEqual(await tab.evaluate(() => ch.until('feed', 3)), ['before', 'across', 'after']);
    }
  },
);

test(
  'resume with replay: what another client publishes while the leader tab closes and the next connects reaches every listener once, in order',
  // The old leader may have relayed the message it got as its tab closed to one tab only: the
  // other one gets it by replay, and holds back what comes live meanwhile (see ts/channels.ts).
  { skip: libraryOnly },
  async (t) => {
    const tabs = await clientTabs(t, 3);
    await Promise.all(tabs.map((tab) => tab.evaluate(() => ch.listen('feed', 'persistent:replay'))));
    await waitForStats(server, (s) => s.channels.connections === 1 && subscriptions(s)['persistent:replay'] === 1);
    const statuses = await Promise.all(tabs.map((tab) => tab.evaluate(() => ch.client.status())));
    const leader = tabs[statuses.findIndex((s) => s.isLeader)];
    const followers = tabs.filter((tab) => tab !== leader);

    // Another client publishes 30 messages, one every 20 ms, and a sentinel. The leader tab closes
    // after the fifth arrived: those published until the next leader's connection subscribed again
    // come by replay, from the last id each tab saw.
    const published = publish(server, { channel: 'persistent:replay', count: 30, everyMs: 20 });
    await followers[0].evaluate(() => ch.until('feed', 5));
    await leader.close();
    assert.equal(await published, 30);
    const all = [...Array.from({ length: 30 }, (_, n) => n), 'end'];
    for (const tab of followers) {
      const got = await tab.evaluate(() => ch.until('feed', 31));
      assert.deepEqual(
        got.map((d) => d.n ?? d),
        all,
      );
    }
  },
);

test(
  'a persistent channel listened to again starts from then: what was published meanwhile is not replayed to it',
  { skip: libraryOnly },
  async (t) => {
    const [tab] = await clientTabs(t, 1);
    const channel = 'persistent:again';
    const names = (got) => got.map((d) => d.n ?? d);
    await tab.evaluate((c) => ch.listen('first', c), channel);
    await waitForStats(server, (s) => subscriptions(s)[channel] === 1);
    await publish(server, { channel, count: 1, everyMs: 0 });
    assert.deepEqual(names(await tab.evaluate(() => ch.until('first', 2))), [0, 'end']);
    await tab.evaluate(() => ch.stop('first'));
    await waitForStats(server, (s) => subscriptions(s)[channel] === undefined);
    // Published while no tab listens: kept by the server, but not for the next listener.
    await publish(server, { channel, count: 1, everyMs: 0 });
    await tab.evaluate((c) => ch.listen('second', c), channel);
    await waitForStats(server, (s) => subscriptions(s)[channel] === 1);
    await publish(server, { channel, count: 0, everyMs: 0 });
    assert.deepEqual(names(await tab.evaluate(() => ch.until('second', 1))), ['end']);
  },
);
