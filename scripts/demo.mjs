// npm run demo: builds the package and the server, starts the server on
// loopback serving the repository (so the pages load /dist and /examples),
// prints the demo URL and runs until Ctrl-C.
import { execFileSync, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const port = process.env.PORT ?? '8080';

execFileSync('node', ['scripts/build.mjs'], { cwd: root, stdio: 'inherit' });
execFileSync('cargo', ['build', '-p', 'bws-server'], { cwd: root, stdio: 'inherit' });

// The demo's chat channel keeps history, so a widget that reconnects gets what it missed.
const server = spawn(join(root, 'target/debug/bws-server'), ['--port', port, '--static-dir', root], {
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { PERSISTENT_CHANNELS: 'chat', ...process.env },
});
server.stdout.on('data', (chunk) => {
  const listening = /listening on (\S+)/.exec(String(chunk));
  if (listening) console.log(`\nDemo: ${listening[1]}/examples/\nPress Ctrl-C to stop.`);
});
server.on('exit', (code) => process.exit(code ?? 0));
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.kill('SIGTERM'));
