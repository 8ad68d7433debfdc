// The demo's backend: answers every request with its name and version as JSON (and a colour the
// frontend shows). Run two copies with VERSION=v1 and VERSION=v2, each behind its own sidecar.
// PORT (default 9081; 0: any free port) is where it listens; it only ever receives traffic through
// its sidecar. Started by `weft demo` it tells the demo its port and exits with it (IPC channel).
import { createServer } from 'node:http';

const version = process.env.VERSION ?? 'v1';
const colour = { v1: '#2f6fde', v2: '#e0752d', v3: '#2da44e' }[version] ?? '#666';
const port = Number(process.env.PORT ?? 9081);
// Which demo run this process belongs to (the demo checks it reaches its own processes).
const instance = process.env.DEMO_INSTANCE ?? null;

const server = createServer((req, res) => {
  const body = JSON.stringify({
    service: 'backend', version, colour, instance,
    path: req.url, user: req.headers['end-user'] ?? null, host: req.headers.host ?? null,
  });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
server.on('error', (e) => { console.error(`backend ${version}: ${e.message}`); process.exit(1); });
server.listen(port, '127.0.0.1', () => {
  console.log(`backend ${version} on 127.0.0.1:${server.address().port}`);
  process.send?.({ weft: 'ready', port: server.address().port });
});
const stop = () => { server.closeAllConnections(); server.close(() => process.exit(0)); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// Started by `weft demo`: exit with it, however it ends.
if (process.channel) { process.channel.unref(); process.on('disconnect', stop); }
else if (process.env.WEFT_PARENT_PID && Number(process.env.WEFT_PARENT_PID) !== process.ppid) stop(); // the demo died first
