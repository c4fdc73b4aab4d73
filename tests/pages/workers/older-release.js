// A worker of a release older than the handshake: gloo-worker's "WorkerLoaded" is its first message.
postMessage('WorkerLoaded');
