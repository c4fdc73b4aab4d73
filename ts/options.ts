// Reads a constructor's options, each checked as it is read: a bad value throws a TypeError that
// names the class and the option, before anything starts.

import type { Election } from '../build/worker/bws_worker.js';

const ELECTIONS = ['auto', 'locks', 'lease'] as const;

export class OptionReader {
  constructor(
    private readonly cls: string,
    private readonly values: Record<string, unknown>,
  ) {}

  fail(name: string, what: string, value: unknown): never {
    throw new TypeError(`Failed to construct '${this.cls}': option '${name}' must be ${what}, got ${String(value)}.`);
  }

  /** A non-empty string, if given. */
  string(name: string): string | undefined {
    const value = this.values[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value === '') this.fail(name, 'a non-empty string', value);
    return value;
  }

  /** Whole milliseconds, at least `minimum`; `fallback` if not given. */
  milliseconds(name: string, fallback: number, minimum: number): number {
    const value = this.values[name];
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < minimum) {
      this.fail(name, `a number of milliseconds of at least ${minimum}`, value);
    }
    return Math.round(value);
  }

  /** The election backend; 'auto' if not given. */
  election(): Election {
    const value = this.values.election ?? 'auto';
    if (!ELECTIONS.includes(value as Election)) this.fail('election', `one of ${ELECTIONS.join(', ')}`, value);
    return value as Election;
  }

  /** A boolean; `fallback` if not given. */
  flag(name: string, fallback = false): boolean {
    const value = this.values[name] ?? fallback;
    if (typeof value !== 'boolean') this.fail(name, 'a boolean', value);
    return value;
  }
}
