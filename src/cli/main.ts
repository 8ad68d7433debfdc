#!/usr/bin/env -S node --max-semi-space-size=2 --no-memory-reducer
// V8 flags for a long-running proxy (workers of --concurrency inherit them):
// --max-semi-space-size=2 caps the young generation (about 9 MB less RSS, no measurable CPU cost);
// --no-memory-reducer: after a spell of idleness V8's memory reducer shrinks the heap and the next
// traffic runs in a GC-heavy mode that does not recover (HTTP/2 through one core, h2load: 15k
// req/s when the load starts at once, 5.5k when it starts after 25 s idle, 15k with the flag).
// Neither can be set after startup (v8.setFlagsFromString does not reach the memory reducer).
// `weft`: the command-line entry point. One file per command under src/cli/; this file only
// dispatches and prints help. Commands are imported when run, so `weft proxy` does not load the
// control plane and `weft apply` does not load the proxy.

import { WEFT_VERSION } from '../version.js';

const COMMANDS: Record<string, { summary: string; run: (args: string[]) => Promise<number> }> = {
  demo: { summary: 'run the mesh demo: control plane, a frontend and a backend in two versions, each with a sidecar', run: async (a) => (await import('./demo.js')).runDemo(a) },
  proxy: { summary: 'run the proxy from an Envoy v3 bootstrap (weft proxy -c FILE [--validate])', run: async (a) => (await import('./proxy.js')).runProxy(a) },
  sidecar: { summary: 'run a sidecar for one workload, configured by the control plane (weft sidecar --service NAME --app-port PORT)', run: async (a) => (await import('./sidecar.js')).runSidecar(a) },
  control: { summary: 'run the control plane: xDS server, Istio config store, service registry, HTTP API (weft control)', run: async (a) => (await import('./control.js')).runControl(a) },
  apply: { summary: 'apply Istio resources through the control plane (weft apply -f FILE|DIR|-)', run: async (a) => (await import('./apply.js')).runApply(a) },
  get: { summary: 'list Istio resources (weft get KIND [NAME] [-n NS] [-o yaml|json])', run: async (a) => (await import('./get.js')).runGet(a) },
  delete: { summary: 'delete Istio resources (weft delete KIND NAME [-n NS] | -f FILE)', run: async (a) => (await import('./delete.js')).runDelete(a) },
  'proxy-status': { summary: "show each connected proxy's xDS sync state (weft proxy-status)", run: async (a) => (await import('./proxy-status.js')).runProxyStatus(a) },
  token: { summary: 'create a workload token for the CA (weft token create --namespace NS --service-account SA)', run: async (a) => (await import('./token.js')).runToken(a) },
  ca: { summary: "the control plane's CA: status and root rotation (weft ca status | rotate prepare|activate|retire)", run: async (a) => (await import('./ca.js')).runCa(a) },
  analyze: { summary: "analyze the mesh's configuration (weft analyze)", run: async (a) => (await import('./analyze.js')).runAnalyze(a) },
  version: { summary: 'print the version', run: async () => { console.log(version()); return 0; } },
};

/** The package version (package.json's, src/version.ts). */
export function version(): string {
  return WEFT_VERSION;
}

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return [
    'weft — a service mesh in TypeScript',
    '',
    'Usage: weft <command> [options]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([k, v]) => `  ${k.padEnd(width)}  ${v.summary}`),
    '',
    'Run `weft <command> --help` for the options of a command.',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    console.log(help());
    return 0;
  }
  if (cmd === '--version' || cmd === '-v') { console.log(version()); return 0; }
  const c = COMMANDS[cmd];
  if (c === undefined) {
    console.error(`weft: unknown command '${cmd}'\n\n${help()}`);
    return 2;
  }
  return c.run(rest);
}

// Started by another weft process with an IPC channel (the demo): the channel must not keep this
// process alive once its command is done (parent-watch.ts listens for its 'disconnect').
process.channel?.unref();

main(process.argv.slice(2)).then(
  (code) => { if (code !== 0 || process.exitCode === undefined) process.exitCode = code; },
  (err: unknown) => { console.error(err instanceof Error ? err.stack ?? err.message : String(err)); process.exitCode = 1; },
);
