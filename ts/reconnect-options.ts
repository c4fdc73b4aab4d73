// The reconnect options (README, Reconnecting): checked on the page, with
// partysocket 1.3.0's names and defaults, and turned into what the worker's
// loop runs with.

import type { Reconnect } from '../build/worker/bws_worker.js';
import type { OptionReader } from './options.js';

/** The options this module reads, as the constructor got them. */
export interface ReconnectOptionValues {
  reconnect?: unknown;
  minReconnectionDelay?: unknown;
  maxReconnectionDelay?: unknown;
  reconnectionDelayGrowFactor?: unknown;
  minUptime?: unknown;
  connectionTimeout?: unknown;
  maxRetries?: unknown;
  maxEnqueuedMessages?: unknown;
  reconnectOnCodes?: unknown;
}

/** What an instance reconnects with: the worker's settings, and the page's bound on queued sends. */
export interface ReconnectSettings {
  worker: Reconnect;
  maxEnqueuedMessages: number;
}

/** The largest u32: the worker's "no bound" for `maxRetries`. */
const UNBOUNDED_RETRIES = 0xffff_ffff;

function number(read: OptionReader, name: keyof ReconnectOptionValues, fallback: number, minimum: number): number {
  const value = read.get(name);
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value) || value < minimum || value === Infinity) {
    read.fail(name, `a finite number of at least ${minimum}`, value);
  }
  return value;
}

/** A count that may be `Infinity`, as partysocket's `maxRetries` and `maxEnqueuedMessages`. */
function count(read: OptionReader, name: 'maxRetries' | 'maxEnqueuedMessages'): number {
  const value = read.get(name);
  if (value === undefined || value === Infinity) return Infinity;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    read.fail(name, 'a whole number of at least 0, or Infinity', value);
  }
  return value;
}

function codes(read: OptionReader): number[] {
  const value = read.get('reconnectOnCodes');
  if (value === undefined) return [];
  const valid = (code: unknown) => Number.isInteger(code) && (code as number) >= 1000 && (code as number) <= 4999;
  if (!Array.isArray(value) || !value.every(valid)) {
    read.fail('reconnectOnCodes', 'an array of close codes (1000 to 4999)', value);
  }
  return [...(value as number[])];
}

/** The instance's reconnect settings; `undefined` without `reconnect: true` (every other reconnect
 * option is still checked, so that a typo fails at once rather than when the connection drops). */
export function reconnectSettings(read: OptionReader): ReconnectSettings | undefined {
  const enabled = read.flag('reconnect');
  const minDelay = number(read, 'minReconnectionDelay', 3000, 0);
  const maxDelay = number(read, 'maxReconnectionDelay', Math.max(10_000, minDelay), 0);
  if (maxDelay < minDelay) {
    read.fail('maxReconnectionDelay', `at least minReconnectionDelay (${minDelay})`, maxDelay);
  }
  const growFactor = number(read, 'reconnectionDelayGrowFactor', 1.3, 1);
  const minUptime = number(read, 'minUptime', 5000, 0);
  const connectionTimeout = number(read, 'connectionTimeout', 4000, 1);
  const maxRetries = count(read, 'maxRetries');
  const maxEnqueuedMessages = count(read, 'maxEnqueuedMessages');
  const reconnectOnCodes = codes(read);
  if (!enabled) return undefined;
  return {
    worker: {
      minReconnectionDelay: Math.round(minDelay),
      maxReconnectionDelay: Math.round(maxDelay),
      reconnectionDelayGrowFactor: growFactor,
      minUptime: Math.round(minUptime),
      connectionTimeout: Math.round(connectionTimeout),
      maxRetries: Math.min(maxRetries, UNBOUNDED_RETRIES),
      queue: maxEnqueuedMessages > 0,
      reconnectOnCodes,
    },
    maxEnqueuedMessages,
  };
}
