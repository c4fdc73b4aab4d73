// Loads the facade's WASM (once per page, synchronously, from the bundle) and
// names the worker script: an inline blob: URL by default, or the page's own
// copy of dist/worker.js for sites whose CSP forbids blob: workers.

import { connect, forgetWorker, initSync, tabId } from '../build/facade/bws_facade.js';
import { facadeWasmBase64, workerScript } from '../build/inline.js';

let loaded = false;
let inlineWorkerUrl: string | undefined;

function decodeBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** The facade, its WASM compiled on first use. A constructor must stay
 * synchronous, and the module is small enough for a synchronous compile. */
export function facade() {
  if (!loaded) {
    initSync({ module: decodeBase64(facadeWasmBase64) });
    loaded = true;
  }
  return { connect, forgetWorker, tabId };
}

/** The absolute URL of the worker script to spawn. */
export function resolveWorkerUrl(workerUrl: string | undefined): string {
  if (workerUrl === undefined) {
    inlineWorkerUrl ??= URL.createObjectURL(new Blob([workerScript], { type: 'text/javascript' }));
    return inlineWorkerUrl;
  }
  const resolved = new URL(workerUrl, globalThis.document?.baseURI ?? globalThis.location?.href);
  // A cross-origin script cannot be a worker: new Worker() would throw inside the facade.
  if (resolved.origin !== globalThis.location?.origin && resolved.protocol !== 'blob:') {
    throw new Error(`workerUrl ${resolved.href} is not of this page's origin`);
  }
  return resolved.href;
}
