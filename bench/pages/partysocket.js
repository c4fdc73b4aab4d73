// partysocket's ReconnectingWebSocket, the reconnecting socket most apps use today, for the
// reconnect section's comparison. Bundled by bench/run.mjs with esbuild into bench/build/partysocket.js.
export { default as ReconnectingWebSocket } from 'partysocket/ws';
