// Server load: the channels service of bws-server on loopback, driven by the crate's own load
// generator (bws-load, built next to bws-server by `cargo build -p bws-server`; Node 20 has no
// WebSocket client). Per scenario: how many idle subscribers connected and how fast, then one
// publisher's paced broadcasts fanned out to all of them, with the delivery rate and the
// publish → delivery latency percentiles. The load generator shares the machine with the server.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { serverBin, startServer } from '../../tests/harness.mjs';
import { fmt, table } from '../lib.mjs';

const QUICK = [{ clients: 200, messages: 200, rate: 1000, size: 64 }];
const FULL = [
  { clients: 1000, messages: 500, rate: 1000, size: 64 },
  { clients: 100, messages: 5000, rate: 10000, size: 64 },
  { clients: 100, messages: 500, rate: 1000, size: 4096 },
];

// The publisher sends far faster than the default per-connection rate limit allows.
const UNTHROTTLED = {
  LOG_LEVEL: 'warn',
  RATE_LIMIT_PER_SECOND: '1000000',
  RATE_LIMIT_BURST: '1000000',
  SEND_QUEUE_LIMIT: '100000',
};

/** Runs bws-load once and returns its JSON report. */
async function runLoad(loadBin, url, { clients, messages, rate, size }) {
  const args = ['--url', url, '--clients', clients, '--messages', messages, '--rate', rate, '--size', size];
  const child = spawn(loadBin, args.map(String), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const [code] = await once(child, 'exit');
  if (code !== 0) throw new Error(`bws-load exited with ${code}: ${err.trim()}`);
  return JSON.parse(out);
}

export async function run({ quick }) {
  const loadBin = path.join(path.dirname(serverBin()), 'bws-load');
  if (!existsSync(loadBin)) throw new Error(`${loadBin} not found: run \`cargo build -p bws-server\``);
  const build = serverBin().split(path.sep).includes('release') ? 'release' : 'debug';
  const server = await startServer({ env: UNTHROTTLED });
  const scenarios = [];
  try {
    for (const scenario of quick ? QUICK : FULL) scenarios.push(await runLoad(loadBin, server.wsUrl('/ws'), scenario));
  } finally {
    await server.stop();
  }
  const ms = (v) => (typeof v === 'number' ? v.toFixed(1) : 'n/a');
  const markdown = [
    `### Server load: channels on loopback, in memory (bws-server ${build} build, load generator on the same machine)`,
    '',
    table(
      [
        'subscribers connected',
        'connect time',
        'broadcasts at rate',
        'payload',
        'deliveries',
        'deliveries/s',
        'latency p50 / p95 / p99',
      ],
      scenarios.map((r) => [
        `${fmt.int(r.connected)} of ${fmt.int(r.clients)}`,
        `${r.connectSeconds.toFixed(2)} s`,
        `${fmt.int(r.messages)} at ${fmt.rate(r.targetRate)}`,
        `${r.size} B`,
        `${fmt.int(r.deliveries)} of ${fmt.int(r.expectedDeliveries)}`,
        fmt.rate(r.deliveriesPerSecond),
        `${ms(r.latencyMs.p50)} / ${ms(r.latencyMs.p95)} / ${ms(r.latencyMs.p99)} ms`,
      ]),
    ),
  ];
  return { results: { build, scenarios }, markdown };
}
