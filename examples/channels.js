// A client of the example server's channels protocol (examples/server/README.md) over ONE
// BroadcastWebsocket per browser: every widget, tab and iframe of the origin that calls
// openChannels() shares the leader tab's connection. This is the README's "channels" recipe.
//
// What sharing changes, and how this client handles it:
// - Subscriptions belong to the connection, which every tab shares: each tab subscribes to what it
//   shows and never unsubscribes a channel (another tab may still show it); it filters the frames
//   it gets by channel instead.
// - After a failover the new leader's connection starts with no subscriptions: every tab
//   subscribes again on each `open`, passing the last message id it saw so the server replays
//   what a persistent channel kept meanwhile (repeats are dropped by id here).
// - The clientId in the URL is the same in every tab (one per browser profile), so all tabs share
//   one scope and the server recognises the client when it reconnects.
import { BroadcastWebsocket } from '/dist/index.js';

/** A random id: getRandomValues works in insecure contexts too (an OBS local file), unlike randomUUID. */
function randomId() {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** One id per browser profile, kept in localStorage. */
function clientId() {
  const key = 'broadcast-websocket-demo:clientId';
  let id = localStorage.getItem(key);
  if (!id) {
    id = randomId();
    localStorage.setItem(key, id);
  }
  return id;
}

/** Message ids are "<ms>-<seq>" (as Redis stream ids), ordered within a channel. */
function isAfter(id, other) {
  const [a, b] = id.split('-').map(Number);
  const [c, d] = other.split('-').map(Number);
  return a > c || (a === c && b > d);
}

/** ws(s)://<this origin>/ws?clientId=… */
export function channelsUrl() {
  const url = new URL('/ws', location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.searchParams.set('clientId', clientId());
  return url.href;
}

/**
 * Subscribes to `channels` and calls onMessage(data, frame) once per message of those channels,
 * onState(readyState) on every change, and onAck(messageId) for acknowledged broadcasts.
 * Returns { broadcast(channel, data) → messageId, socket }.
 */
export function openChannels(channels, { onMessage, onState, onAck, onError } = {}) {
  const socket = new BroadcastWebsocket(channelsUrl());
  const lastId = new Map(); // channel → id of the last message shown

  socket.addEventListener('open', () => {
    for (const channel of channels) {
      socket.send(JSON.stringify({ type: 'subscribe', channel, lastId: lastId.get(channel) }));
    }
    onState?.(socket.readyState);
  });
  socket.addEventListener('close', () => onState?.(socket.readyState));
  socket.addEventListener('message', ({ data }) => {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return; // not a channels frame
    }
    if (frame.type === 'message' && channels.includes(frame.channel)) {
      if (frame.id) {
        const last = lastId.get(frame.channel);
        if (last && !isAfter(frame.id, last)) return; // already shown before a replay
        lastId.set(frame.channel, frame.id);
      }
      onMessage?.(frame.data, frame);
    } else if (frame.type === 'ack') {
      onAck?.(frame.messageId);
    } else if (frame.type === 'error') {
      onError?.(frame);
    }
  });

  return {
    socket,
    broadcast(channel, data) {
      const messageId = randomId();
      socket.send(JSON.stringify({ type: 'broadcast', channel, data, messageId }));
      return messageId;
    },
  };
}
