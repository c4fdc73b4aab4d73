// A worker that is not broadcast-websocket's at all: it says something else first.
postMessage({ type: 'ready', from: 'another library' });
