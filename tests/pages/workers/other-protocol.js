// A worker of another release of broadcast-websocket: it announces a protocol this page does not
// speak, then loads as gloo-worker does. Used as `workerUrl` to test the handshake.
postMessage({ broadcastWebsocketWorker: { protocol: 999, release: '9.9.9' } });
postMessage('WorkerLoaded');
