// The package entry: the class and its public types.

export { BroadcastWebsocket } from './broadcast-websocket.js';
export type { BroadcastWebsocketEventMap } from './broadcast-websocket.js';
export type { BroadcastWebsocketOptions, Election, Protocols, Status } from '../build/facade/bws_facade.js';
