// Names the worker script: the inline one by default, or the page's own copy
// of dist/worker.js for sites whose CSP forbids blob: workers.

import { workerScript } from '../build/inline.js';

/** The name of the inline worker script until a worker is spawned from it (see spawnUrl). */
export const INLINE_WORKER = 'broadcast-websocket:inline-worker';

let inlineWorkerUrl: string | undefined;

/** The worker script to spawn: an absolute URL of this page's origin, or INLINE_WORKER. */
export function resolveWorkerUrl(workerUrl: string | undefined): string {
  if (workerUrl === undefined) return INLINE_WORKER;
  const resolved = new URL(workerUrl, globalThis.document?.baseURI ?? globalThis.location?.href);
  // A cross-origin script cannot be a worker: new Worker() would throw.
  if (resolved.origin !== globalThis.location?.origin && resolved.protocol !== 'blob:') {
    throw new Error(`workerUrl ${resolved.href} is not of this page's origin`);
  }
  return resolved.href;
}

/**
 * The URL to spawn a worker of `workerUrl` from. The inline script gets a blob: URL, once per page,
 * when the first worker starts: registering it is a synchronous round trip to the browser (1–5 ms
 * in Chromium), which no constructor call should pay.
 */
export function spawnUrl(workerUrl: string): string {
  if (workerUrl !== INLINE_WORKER) return workerUrl;
  inlineWorkerUrl ??= URL.createObjectURL(new Blob([workerScript], { type: 'text/javascript' }));
  return inlineWorkerUrl;
}
