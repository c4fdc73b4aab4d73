// A worker script that fails on load: used as `workerUrl` to test worker-failure handling.
throw new Error('throwing-worker.js fails on purpose');
