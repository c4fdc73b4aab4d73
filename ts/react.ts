// broadcast-websocket/react: React hooks over the channels client (broadcast-websocket/channels),
// over BroadcastWebsocket and over BroadcastSync (broadcast-websocket/sync), for React 18 and
// later, a peer dependency this bundle imports by name as it does the package.
//
// Every client, socket, channel subscription and sync is a SharedStore read with
// useSyncExternalStore: opened by its first user's effect, closed a microtask after its last
// user's cleanup, so that StrictMode's double mount keeps one instance (no second
// BroadcastWebsocket, no connection, server subscription or election opened and dropped) and an
// unmount really closes.
import { createContext, createElement, useCallback, useContext, useEffect, useMemo, useSyncExternalStore } from 'react';
import type { ReactElement, ReactNode } from 'react';
import { BroadcastWebsocket } from 'broadcast-websocket';
import type { BroadcastWebsocketOptions, Status } from 'broadcast-websocket';
import { ChannelsError, createChannelsClient } from 'broadcast-websocket/channels';
import type { Ack, ChannelMessage, ChannelsClient, ChannelsClientOptions } from 'broadcast-websocket/channels';
import { BroadcastSync } from 'broadcast-websocket/sync';
import type { BroadcastSyncConfig, SyncStore } from 'broadcast-websocket/sync';
import { SharedStore } from './shared-store.js';

export type { Ack, ChannelMessage, ChannelsClientOptions } from 'broadcast-websocket/channels';
export type { BroadcastSync, BroadcastSyncConfig, SyncStore } from 'broadcast-websocket/sync';

/** What useBroadcastSocket returns: the channels client and its socket's state. */
export interface BroadcastSocketState {
  /** The client; null until the first component using it has mounted (effects open it). */
  client: ChannelsClient | null;
  /** The shared socket's readyState. */
  readyState: number;
  /** The shared socket's status(), as of its last open, close or leader change; null without a client. */
  status: Status | null;
}

/** What useSubscription returns. */
export interface SubscriptionState {
  /** The latest message's payload; undefined until one arrives. */
  data: unknown;
  /** The latest messages, oldest first, at most `maxMessages` of them. */
  messages: readonly ChannelMessage[];
  /** The shared socket's readyState. */
  readyState: number;
}

export interface SubscriptionOptions {
  /** How many messages `messages` keeps. Default: 100. */
  maxMessages?: number;
}

/** What useBroadcastWebsocket returns. */
export interface BroadcastWebsocketState {
  /** The socket; null until the component has mounted (its effect opens it). */
  socket: BroadcastWebsocket | null;
  readyState: number;
  /** The last `message` event; null until one arrives. */
  lastMessage: MessageEvent | null;
  /** The socket's status(), as of its last open, close, error, message or leader change; null without a socket. */
  status: Status | null;
  /** The socket's send(); throws an InvalidStateError before the component has mounted. */
  send: (data: Parameters<BroadcastWebsocket['send']>[0]) => void;
}

export interface BroadcastProviderProps {
  /** The channels service's URL (its `/ws`). A new URL makes a new client. */
  url: string | URL;
  /** The client's options, read when the client is made. */
  options?: ChannelsClientOptions;
  children?: ReactNode;
}

type ChannelsStore = SharedStore<BroadcastSocketState, ChannelsClient>;

const DEFAULT_MAX_MESSAGES = 100;
const NO_CLIENT: BroadcastSocketState = { client: null, readyState: BroadcastWebsocket.CONNECTING, status: null };

function channelsStore(url: string, options: ChannelsClientOptions | undefined): ChannelsStore {
  return new SharedStore<BroadcastSocketState, ChannelsClient>(
    NO_CLIENT,
    (set) => {
      const client = createChannelsClient(url, options);
      const update = () => set({ client, readyState: client.readyState, status: client.status() });
      client.addEventListener('statechange', update);
      client.socket.addEventListener('leaderchange', update);
      update();
      return client;
    },
    (client) => client.close(),
  );
}

type Messages = Pick<SubscriptionState, 'data' | 'messages'>;
const NO_MESSAGES: Messages = { data: undefined, messages: [] };

/** One listener on `channel` of the client `channels` holds (which it keeps open meanwhile). */
function subscriptionStore(channels: ChannelsStore, channel: string, maxMessages: number) {
  return new SharedStore<Messages, () => void>(
    NO_MESSAGES,
    (set) => {
      const { resource: client, release } = channels.hold();
      let messages: readonly ChannelMessage[] = [];
      let stop: () => void;
      try {
        stop = client.subscribe(channel, (data, message) => {
          messages = [...messages, message].slice(-maxMessages);
          set({ data, messages });
        });
      } catch (error) {
        release(); // a bad channel name: the client is not held for nothing
        throw error;
      }
      return () => {
        stop();
        release();
      };
    },
    (stop) => stop(),
  );
}

type SocketState = Omit<BroadcastWebsocketState, 'send'>;
const NO_SOCKET: SocketState = {
  socket: null,
  readyState: BroadcastWebsocket.CONNECTING,
  lastMessage: null,
  status: null,
};

function socketStore(url: string, options: BroadcastWebsocketOptions | undefined) {
  return new SharedStore<SocketState, BroadcastWebsocket>(
    NO_SOCKET,
    (set) => {
      const socket = new BroadcastWebsocket(url, options);
      let lastMessage: MessageEvent | null = null;
      const update = () => set({ socket, readyState: socket.readyState, lastMessage, status: socket.status() });
      for (const type of ['open', 'close', 'error', 'leaderchange'] as const) socket.addEventListener(type, update);
      socket.addEventListener('message', (event) => {
        lastMessage = event;
        update();
      });
      update();
      return socket;
    },
    (socket) => socket.close(),
  );
}

const ProviderContext = createContext<ChannelsStore | null>(null);

/** Gives the components below it one channels client on `url`, made when it mounts and closed when
 * it unmounts (once none of them uses it any more). */
export function BroadcastProvider({ url, options, children }: BroadcastProviderProps): ReactElement {
  const href = String(url);
  // Options are read when the client is made: an inline object literal must not make a new client
  // at every render.
  const store = useMemo(() => channelsStore(href, options), [href]);
  useEffect(() => store.hold().release, [store]);
  return createElement(ProviderContext.Provider, { value: store }, children);
}

/** The client of `url`, made for this component, or the BroadcastProvider's. */
function useChannelsStore(hook: string, url?: string | URL, options?: ChannelsClientOptions): ChannelsStore {
  const href = url === undefined ? undefined : String(url);
  const own = useMemo(() => (href === undefined ? null : channelsStore(href, options)), [href]);
  const provided = useContext(ProviderContext);
  const store = own ?? provided;
  if (!store) throw new Error(`${hook}: no url was given and no <BroadcastProvider> is above this component`);
  return store;
}

/** The channels client of `url` (made for this component; `options` are read when it is made), or
 * without `url` the one of the BroadcastProvider above; re-renders when its socket's state changes. */
export function useBroadcastSocket(url?: string | URL, options?: ChannelsClientOptions): BroadcastSocketState {
  const store = useChannelsStore('useBroadcastSocket', url, options);
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
}

/** The messages of `channel`, through the BroadcastProvider's client: the server is asked to
 * subscribe while any component of any tab listens to the channel. */
export function useSubscription(
  channel: string,
  { maxMessages = DEFAULT_MAX_MESSAGES }: SubscriptionOptions = {},
): SubscriptionState {
  if (!Number.isInteger(maxMessages) || maxMessages < 1) {
    throw new RangeError(`useSubscription: maxMessages must be a positive integer, got ${maxMessages}`);
  }
  const channels = useChannelsStore('useSubscription');
  const { readyState } = useSyncExternalStore(channels.subscribe, channels.getSnapshot, channels.getSnapshot);
  const store = useMemo(() => subscriptionStore(channels, channel, maxMessages), [channels, channel, maxMessages]);
  const { data, messages } = useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
  return { data, messages, readyState };
}

/** A function that broadcasts on the BroadcastProvider's client: `(channel, data) => Promise<Ack>`
 * (see the channels client's broadcast()). The same function at every render. */
export function useBroadcast(): (channel: string, data: unknown) => Promise<Ack> {
  const channels = useChannelsStore('useBroadcast');
  useEffect(() => channels.hold().release, [channels]);
  return useCallback(
    (channel: string, data: unknown) => {
      const client = channels.resource;
      if (!client) {
        return Promise.reject(
          new ChannelsError('closed', 'useBroadcast: no client (the component has not mounted yet, or has unmounted)'),
        );
      }
      return client.broadcast(channel, data);
    },
    [channels],
  );
}

/** A BroadcastWebsocket of this component's own (`options` are read when it is made; a new `url`
 * makes a new one), for apps that speak their own protocol over the shared connection. */
export function useBroadcastWebsocket(url: string | URL, options?: BroadcastWebsocketOptions): BroadcastWebsocketState {
  const href = String(url);
  const store = useMemo(() => socketStore(href, options), [href]);
  const state = useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
  const send = useCallback(
    (data: Parameters<BroadcastWebsocket['send']>[0]) => {
      const socket = store.resource;
      if (!socket) {
        throw new DOMException(
          'useBroadcastWebsocket: no socket (the component has not mounted yet)',
          'InvalidStateError',
        );
      }
      socket.send(data);
    },
    [store],
  );
  return { ...state, send };
}

/** What a BroadcastSync's users re-render on. */
interface SyncSnapshot {
  active: boolean;
  leader: boolean;
  tabs: number;
}
const NOT_SYNCING: SyncSnapshot = { active: false, leader: false, tabs: 0 };

/** `sync`, started by its first user and stopped once its last one left. */
function syncStore<TState extends object>(sync: BroadcastSync<TState>) {
  return new SharedStore<SyncSnapshot, () => void>(
    NOT_SYNCING,
    (set) => {
      const update = () => set({ active: sync.isActive(), leader: sync.isLeader(), tabs: sync.getConnectedTabs() });
      sync.addEventListener('change', update);
      sync.addEventListener('leaderchange', update);
      sync.start();
      update();
      return () => {
        sync.removeEventListener('change', update);
        sync.removeEventListener('leaderchange', update);
        sync.stop();
      };
    },
    (stop) => stop(),
  );
}

/** A BroadcastSync of `store` (zustand's hook or StoreApi, or any store of that shape), started while
 * the component is mounted; re-renders when the leader or the number of tabs changes. `config` is
 * read when the sync is made: a new store or channelName makes a new one. */
export function useBroadcastSync<TState extends object>(
  store: SyncStore<TState>,
  config: BroadcastSyncConfig<TState>,
): BroadcastSync<TState> {
  const sync = useMemo(() => new BroadcastSync(store, config), [store, config.channelName]);
  const shared = useMemo(() => syncStore(sync), [sync]);
  useSyncExternalStore(shared.subscribe, shared.getSnapshot, shared.getSnapshot);
  return sync;
}
