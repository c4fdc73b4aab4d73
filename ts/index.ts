// The package entry: the class and its public types.

export { BroadcastWebsocket } from './broadcast-websocket.js';
export type { BroadcastWebsocketOptions, Protocols, Status } from '../build/facade/bws_facade.js';
