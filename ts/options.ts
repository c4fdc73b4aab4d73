// Reads a constructor's options (or a config), each checked as it is read: a bad value throws a
// TypeError that names the class and the option, before anything starts.

/** The election backends an option may name. */
const ELECTIONS = ['auto', 'locks', 'lease'] as const;

export class OptionReader {
  private readonly values: Record<string, unknown>;

  /** `subject` opens each message, e.g. "Failed to construct 'X': option" (see `forConstructor`). */
  constructor(
    private readonly subject: string,
    values: object,
  ) {
    this.values = values as Record<string, unknown>;
  }

  /** A reader whose messages read as the engine's own constructors' do. */
  static forConstructor(cls: string, values: object): OptionReader {
    return new OptionReader(`Failed to construct '${cls}': option`, values);
  }

  /** The value as given, for a reader of its own to check (see reconnect-options.ts). */
  get(name: string): unknown {
    return this.values[name];
  }

  fail(name: string, what: string, value: unknown): never {
    throw new TypeError(`${this.subject} '${name}' must be ${what}, got ${String(value)}.`);
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

  /** One of `allowed`; `fallback` if not given. */
  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const value = this.values[name] ?? fallback;
    if (!allowed.includes(value as T)) this.fail(name, `one of ${allowed.join(', ')}`, value);
    return value as T;
  }

  /** The election backend; 'auto' if not given. */
  election(): (typeof ELECTIONS)[number] {
    return this.oneOf('election', ELECTIONS, 'auto');
  }

  /** A boolean; `fallback` if not given. */
  flag(name: string, fallback = false): boolean {
    const value = this.values[name] ?? fallback;
    if (typeof value !== 'boolean') this.fail(name, 'a boolean', value);
    return value;
  }

  /** An array of key names; empty if not given. */
  keys(name: string): string[] {
    const value = this.values[name] ?? [];
    if (!Array.isArray(value) || !value.every((k) => typeof k === 'string')) {
      this.fail(name, 'an array of key names', value);
    }
    return value;
  }

  /** A function, if given. */
  callback(name: string): void {
    const value = this.values[name];
    if (value !== undefined && typeof value !== 'function') this.fail(name, 'a function', value);
  }
}
