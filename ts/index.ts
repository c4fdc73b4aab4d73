// The package entry: the class and its public types.

export { BroadcastWebsocket } from './broadcast-websocket.js';
export type { BroadcastWebsocketEventMap, ProtocolsProvider, UrlProvider } from './broadcast-websocket.js';
export { BroadcastElection } from './election.js';
export type { BroadcastElectionEventMap, BroadcastElectionOptions } from './election.js';
export type { Backend, BroadcastWebsocketOptions, Election, Protocols, Status } from '../build/worker/bws_worker.js';
