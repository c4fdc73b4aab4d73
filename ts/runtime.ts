// Names the worker script: an inline blob: URL by default, or the page's own
// copy of dist/worker.js for sites whose CSP forbids blob: workers.

import { workerScript } from '../build/inline.js';

let inlineWorkerUrl: string | undefined;

/** The absolute URL of the worker script to spawn. */
export function resolveWorkerUrl(workerUrl: string | undefined): string {
  if (workerUrl === undefined) {
    inlineWorkerUrl ??= URL.createObjectURL(new Blob([workerScript], { type: 'text/javascript' }));
    return inlineWorkerUrl;
  }
  const resolved = new URL(workerUrl, globalThis.document?.baseURI ?? globalThis.location?.href);
  // A cross-origin script cannot be a worker: new Worker() would throw.
  if (resolved.origin !== globalThis.location?.origin && resolved.protocol !== 'blob:') {
    throw new Error(`workerUrl ${resolved.href} is not of this page's origin`);
  }
  return resolved.href;
}
