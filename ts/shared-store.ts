// A store for React's useSyncExternalStore over a resource (a channels client, a socket, a channel
// subscription) that its first user opens and that closes once its last user has left.
//
// The close waits for a microtask. StrictMode runs every effect's cleanup and then the effect again,
// one after the other in the same commit: the resource lives through that instead of being closed
// and replaced (a second BroadcastWebsocket, a connection opened and dropped, an unsubscribe and a
// subscribe sent to the server). A user that comes after the close gets a new resource: a closed
// one is never handed out again.

/** Opens the resource; `set` publishes the store's state, and is ignored once the resource closed. */
type Open<S, R> = (set: (state: S) => void) => R;

export class SharedStore<S, R> {
  #state: S;
  readonly #idle: S;
  readonly #open: Open<S, R>;
  readonly #close: (resource: R) => void;
  readonly #listeners = new Set<() => void>();
  #resource: R | undefined;
  #users = 0;
  /** Counts the resources opened: a closed one's late events (a socket's close) change nothing. */
  #generation = 0;

  /** `idle`: the state while no resource is open. */
  constructor(idle: S, open: Open<S, R>, close: (resource: R) => void) {
    this.#state = idle;
    this.#idle = idle;
    this.#open = open;
    this.#close = close;
  }

  /** The open resource; undefined while no one holds it. */
  get resource(): R | undefined {
    return this.#resource;
  }

  /** For useSyncExternalStore: holds the resource while subscribed; `onChange` hears every change. */
  readonly subscribe = (onChange: () => void): (() => void) => {
    const { release } = this.hold();
    this.#listeners.add(onChange);
    return () => {
      this.#listeners.delete(onChange);
      release();
    };
  };

  /** For useSyncExternalStore (and its server snapshot: the idle state, as nothing opens there). */
  readonly getSnapshot = (): S => this.#state;

  /** Opens the resource unless it is open, and keeps it open until `release()`. */
  hold(): { resource: R; release: () => void } {
    if (this.#resource === undefined) {
      const generation = ++this.#generation;
      this.#resource = this.#open((state) => {
        if (generation === this.#generation) this.#set(state);
      });
    }
    // Counted once open: an open that throws (a bad URL) leaves nothing held.
    this.#users += 1;
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      this.#users -= 1;
      if (this.#users === 0) queueMicrotask(() => this.#closeIfUnused());
    };
    return { resource: this.#resource, release };
  }

  #closeIfUnused(): void {
    if (this.#users > 0 || this.#resource === undefined) return;
    const resource = this.#resource;
    this.#resource = undefined;
    this.#generation += 1;
    this.#close(resource);
    this.#set(this.#idle);
  }

  #set(state: S): void {
    this.#state = state;
    for (const listener of [...this.#listeners]) listener();
  }
}
