// The rules by which BroadcastSync's tabs agree on each key's value: pure (no DOM), so that node
// property-tests them (tests/unit/sync-rules.test.mjs).
//
// Every write of a key gets a version: a version vector (how many writes of the key each tab had
// made, as far as the writer knew), its sum as a clock, the writer's wall-clock time and tab id.
// A write whose vector is below another's was seen by that one's writer; the others are concurrent.
// Each tab keeps, per key, the greatest version it has seen in one total order:
// - A write made after seeing another (a greater vector, so a greater clock) wins under every strategy.
// - Concurrent writes are ordered by clock, then by the strategy: last-write-wins, the later time;
//   first-write-wins, the earlier time; then the greater tab id.
// So tabs that have seen the same writes hold the same value, whatever order the writes came in.
// Under merge and custom, the leader tab also resolves each concurrent write it receives: it
// combines the two values (a deep merge, or the application's resolver) into a new write above both,
// which every tab then takes. Until it arrives, tabs hold the last-write-wins value; a write the
// resolution already includes (an old one sent again) is not resolved twice.

export type ConflictStrategy = 'last-write-wins' | 'first-write-wins' | 'merge' | 'custom';

export const STRATEGIES: readonly ConflictStrategy[] = ['last-write-wins', 'first-write-wins', 'merge', 'custom'];

/** A write's place in its key's history. */
export interface Version {
  /** Writes of the key by each tab, as far as the writer knew, its own included. */
  vector: Record<string, number>;
  /** The vector's sum: greater in any write that saw this one. */
  clock: number;
  time: number;
  tab: string;
}

/** > 0 when version `a` wins over `b`, < 0 when `b` wins, 0 when they are the same write. */
export function compare(a: Version, b: Version, strategy: ConflictStrategy): number {
  if (a.clock !== b.clock) return a.clock - b.clock;
  const byTime = strategy === 'first-write-wins' ? b.time - a.time : a.time - b.time;
  if (byTime !== 0) return byTime;
  return a.tab < b.tab ? -1 : a.tab > b.tab ? 1 : 0;
}

/** Whether every tab's count in `a` is at most its count in `b`: `b`'s writer had seen `a`. */
function within(a: Version, b: Version): boolean {
  return Object.entries(a.vector).every(([tab, count]) => count <= (b.vector[tab] ?? 0));
}

/** A write by `tab` at `time` after seeing `seen`: above all of them. */
function after(seen: (Version | undefined)[], tab: string, time: number): Version {
  const vector: Record<string, number> = {};
  for (const version of seen) {
    for (const [t, count] of Object.entries(version?.vector ?? {})) vector[t] = Math.max(vector[t] ?? 0, count);
  }
  vector[tab] = (vector[tab] ?? 0) + 1;
  const clock = Object.values(vector).reduce((sum, count) => sum + count, 0);
  return { vector, clock, time, tab };
}

/** A key's value as one tab wrote it. */
export interface Write {
  key: string;
  value: unknown;
  version: Version;
}

/** Combines two concurrent values of a key into one (merge and custom; see Versions.take). */
export type Resolve = (key: string, local: unknown, remote: unknown) => unknown;

/** What a tab does with a remote write: set the key to `set.value` (absent: keep its value); where it
 * resolved a conflict, `resolution` is its new write, for every other tab. */
export interface Outcome {
  set?: { value: unknown };
  resolution?: Write;
}

/** The versions of one tab's keys. */
export class Versions {
  readonly #versions = new Map<string, Version>();

  constructor(
    readonly tab: string,
    readonly strategy: ConflictStrategy,
  ) {}

  get(key: string): Version | undefined {
    return this.#versions.get(key);
  }

  /** The version of a local write of `key` at `time`: it wins over every write of the key seen so far. */
  stamp(key: string, time: number): Version {
    const version = after([this.#versions.get(key)], this.tab, time);
    this.#versions.set(key, version);
    return version;
  }

  /**
   * Takes in a remote write, given the key's local value, keeping the greater version. `resolve` is
   * the leader's: a concurrent write becomes a write of the combined value, above both.
   */
  take(write: Write, local: unknown, resolve: Resolve | undefined, time: number): Outcome {
    const { key, version: remote } = write;
    const known = this.#versions.get(key);
    if (known && within(remote, known)) return {}; // seen already, or by the writer of what is here
    const resolves = this.strategy === 'merge' || this.strategy === 'custom';
    if (resolve && resolves && known && !within(known, remote)) {
      const value = resolve(key, local, write.value);
      const version = after([known, remote], this.tab, time);
      this.#versions.set(key, version);
      return { set: { value }, resolution: { key, value, version } };
    }
    if (known && compare(remote, known, this.strategy) < 0) return {};
    this.#versions.set(key, remote);
    return { set: { value: write.value } };
  }
}

const isPlainObject = (value: unknown): value is Record<string, unknown> => {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
};

/**
 * The merge strategy's resolution: `remote` over `local`, plain objects merged property by property
 * at every depth; anything else (arrays, Maps, Dates, primitives) is `remote`'s.
 */
export function deepMerge(local: unknown, remote: unknown): unknown {
  if (!isPlainObject(local) || !isPlainObject(remote)) return remote;
  const merged: Record<string, unknown> = { ...local };
  for (const [key, value] of Object.entries(remote)) merged[key] = deepMerge(local[key], value);
  return merged;
}
