// The link of an instance on a page without BroadcastChannel (old WebViews, embedders that block
// it): nothing can be shared there, so the instance holds a native WebSocket of its own, and the
// socket's events become the replies a worker would send, through the class's one code path.

import type { OpenRequest } from '../build/worker/bws_worker.js';
import type { Link, LinkHandler } from './bridge.js';

let warned = false;

/** Whether this page can share connections at all. */
export const canShare = (): boolean => typeof BroadcastChannel === 'function';

/** Opens the instance's own native socket; its events reach `handler` as replies. */
export function connectNative(request: OpenRequest, handler: LinkHandler): Link & { socket: WebSocket } {
  if (!warned) {
    warned = true;
    console.warn(
      'BroadcastWebsocket: BroadcastChannel is missing here, so connections cannot be shared across tabs; each instance opens a WebSocket of its own.',
    );
  }
  const socket = new WebSocket(request.url, request.protocols);
  // The class applies its own binaryType to what arrives, as it does for a worker's replies.
  socket.binaryType = 'arraybuffer';
  handler.reply({
    leadership: { leaderId: request.tabId, epoch: 0, backend: 'native', tabs: 1, sendsInDoubt: 0, retries: 0 },
  });
  socket.onopen = () => handler.reply({ open: { protocol: socket.protocol, extensions: socket.extensions } });
  socket.onmessage = (event) => handler.reply({ messages: [event.data] });
  socket.onerror = () => handler.reply('error');
  socket.onclose = (event) =>
    handler.reply({
      closed: { code: event.code, reason: event.reason, wasClean: event.wasClean, reconnecting: false },
    });
  return {
    socket,
    send(request) {
      // forceLeader, relinquish, pong, a test switch: a socket of its own has no scope to lead.
      if (typeof request === 'string') return;
      if ('send' in request) {
        socket.send(request.send);
        handler.reply('sent');
      } else if ('close' in request) {
        // Already checked by the class; a close frame carries a reason only with a code.
        const { code, reason } = request.close;
        if (code === undefined || code === null) socket.close();
        else socket.close(code, reason);
      }
    },
    free() {
      socket.onopen = socket.onmessage = socket.onerror = socket.onclose = null;
    },
  };
}
