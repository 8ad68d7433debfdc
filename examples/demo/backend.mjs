// The demo's backend: answers every request with its name and version as JSON (and a colour the
// frontend shows). Run two copies with VERSION=v1 and VERSION=v2, each behind its own sidecar.
// PORT (default 9081) is where it listens; it only ever receives traffic through its sidecar.
import { createServer } from 'node:http';

const version = process.env.VERSION ?? 'v1';
const colour = { v1: '#2f6fde', v2: '#e0752d', v3: '#2da44e' }[version] ?? '#666';
const port = Number(process.env.PORT ?? 9081);

const server = createServer((req, res) => {
  const body = JSON.stringify({
    service: 'backend', version, colour,
    path: req.url, user: req.headers['end-user'] ?? null, host: req.headers.host ?? null,
  });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
server.listen(port, '127.0.0.1', () => console.log(`backend ${version} on 127.0.0.1:${server.address().port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
process.on('SIGINT', () => server.close(() => process.exit(0)));
