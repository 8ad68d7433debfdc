// The demo's web frontend: a page that asks the backend (http://backend:9080, through this
// service's sidecar at OUTBOUND, default 127.0.0.1:15001, used as an HTTP proxy) which version
// answered, many times a second, and shows the split. `?user=NAME` sends `end-user: NAME`, which
// the user-pinning VirtualService routes on. GET /api/backend returns one backend answer as JSON.
// PORT 0 listens on any free port; started by `weft demo` it tells the demo its port and exits with it.
import { createServer, request } from 'node:http';

const port = Number(process.env.PORT ?? 9080);
const [proxyHost, proxyPort] = (process.env.OUTBOUND ?? '127.0.0.1:15001').split(':');
const backend = process.env.BACKEND_URL ?? 'http://backend:9080/';

/** One call to the backend through the sidecar: an absolute-form request, as HTTP_PROXY clients send. */
function callBackend(user) {
  return new Promise((resolve) => {
    const headers = { host: new URL(backend).host };
    if (user) headers['end-user'] = user;
    const req = request({ host: proxyHost, port: Number(proxyPort), method: 'GET', path: backend, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body += c; });
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode, ...JSON.parse(body) });
        } catch {
          resolve({ status: res.statusCode, error: body.trim() || `HTTP ${res.statusCode}` });
        }
      });
    });
    req.on('error', (e) => resolve({ status: 502, error: e.message }));
    req.end();
  });
}

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>Weft demo</title>
<style>
 body{font-family:system-ui,sans-serif;margin:2rem;max-width:46rem}
 #bar{display:flex;height:2.5rem;border-radius:6px;overflow:hidden;margin:1rem 0}
 #bar div{display:flex;align-items:center;justify-content:center;color:#fff;font-weight:600}
 code{background:#f3f3f3;padding:.1rem .3rem;border-radius:3px}
</style></head>
<body>
<h1>frontend → backend</h1>
<p>Every call goes frontend → frontend's sidecar → a backend sidecar → backend. The bar shows which
backend version answered the last 100 calls<span id="who"></span>.</p>
<div id="bar"></div>
<p id="last"></p>
<p>Try <code>npx weft apply -f examples/demo/mesh/split-90-10.yaml</code> and watch the bar move,
or open this page with <code>?user=jason</code> after applying <code>user-pin.yaml</code>.</p>
<script>
const user = new URLSearchParams(location.search).get('user');
if (user) document.getElementById('who').textContent = ' (as ' + user + ')';
const recent = [];
async function tick() {
  const r = await fetch('/api/backend' + (user ? '?user=' + encodeURIComponent(user) : '')).then((x) => x.json()).catch((e) => ({ error: String(e) }));
  recent.push(r); if (recent.length > 100) recent.shift();
  const counts = {}; const colours = {};
  for (const x of recent) { const k = x.version ?? 'error'; counts[k] = (counts[k] ?? 0) + 1; colours[k] = x.colour ?? '#999'; }
  const bar = document.getElementById('bar'); bar.innerHTML = '';
  for (const k of Object.keys(counts).sort()) {
    const d = document.createElement('div'); d.style.flex = counts[k]; d.style.background = colours[k];
    d.textContent = k + ' ' + Math.round(100 * counts[k] / recent.length) + '%'; bar.appendChild(d);
  }
  document.getElementById('last').textContent = 'last answer: ' + JSON.stringify(r);
}
setInterval(tick, 100);
</script>
</body></html>`;

const server = createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/api/backend') {
    const answer = await callBackend(url.searchParams.get('user') ?? req.headers['end-user']);
    const body = JSON.stringify(answer);
    res.writeHead(answer.status === 200 ? 200 : 502, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  if (url.pathname === '/api/profile') {
    // Behind the sidecar's JWT check (examples/demo/security/jwt.yaml): the token's subject arrives in x-jwt-sub.
    const body = JSON.stringify({ user: req.headers['x-jwt-sub'] ?? null });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(PAGE);
});
server.on('error', (e) => { console.error(`frontend: ${e.message}`); process.exit(1); });
server.listen(port, '127.0.0.1', () => {
  console.log(`frontend on 127.0.0.1:${server.address().port}`);
  process.send?.({ weft: 'ready', port: server.address().port });
});
const stop = () => { server.closeAllConnections(); server.close(() => process.exit(0)); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
if (process.channel) { process.channel.unref(); process.on('disconnect', stop); }
else if (process.env.WEFT_PARENT_PID && Number(process.env.WEFT_PARENT_PID) !== process.ppid) stop(); // the demo died first
