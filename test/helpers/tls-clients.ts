// TLS clients for the integration tests: `openssl s_client` and `curl` as child processes, and a
// Node tls client that sends one HTTP/1.1 request and reports what the handshake gave.

import { execFile, spawn } from 'node:child_process';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';

export interface SClientResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** `ALPN protocol: x`, or null when none was negotiated. */
  readonly alpn: string | null;
  /** Peer certificate subject line (`subject=CN = a.example.com`), or null. */
  readonly subject: string | null;
  /** Protocol from the session block (`TLSv1.2`), or null when no session was established. */
  readonly protocol: string | null;
  readonly cipher: string | null;
}

/**
 * Runs `openssl s_client -connect 127.0.0.1:<port> <args>`; writes `input` (then keeps reading
 * until the server closes when `input` is given, thanks to -ign_eof) and resolves on exit.
 */
export function sClient(port: number, args: readonly string[], input?: string): Promise<SClientResult> {
  return new Promise((resolve, reject) => {
    const full = ['s_client', '-connect', `127.0.0.1:${port}`, ...(input !== undefined ? ['-ign_eof'] : []), ...args];
    const p = spawn('openssl', full, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => { stdout += d.toString('latin1'); });
    p.stderr.on('data', (d: Buffer) => { stderr += d.toString('latin1'); });
    p.on('error', reject);
    p.stdin.on('error', () => { /* the process may exit first */ });
    p.stdin.end(input ?? '');
    p.on('close', (code) => {
      const pick = (re: RegExp): string | null => re.exec(stdout)?.[1]?.trim() ?? null;
      resolve({
        code, stdout, stderr,
        alpn: pick(/^ALPN protocol: (.+)$/m),
        subject: pick(/^subject=(.+)$/m),
        protocol: pick(/^\s+Protocol\s*: (.+)$/m),
        cipher: pick(/^\s+Cipher\s*: (.+)$/m),
      });
    });
  });
}

/** Runs curl; resolves with its exit code and output (never rejects on a non-zero exit). */
export function curl(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', '10', ...args], (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as NodeJS.ErrnoException).code === 'number' ? Number((err as NodeJS.ErrnoException).code) : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

export interface TlsGetResult {
  /** The whole response (or '' when the server closed first). */
  readonly response: string;
  readonly alpn: string | false | null;
  /** DER of the server's leaf certificate, hex. */
  readonly fingerprint: string | null;
  /** The error that ended the connection, if any. */
  readonly error: string | null;
}

/**
 * One GET over a fresh TLS connection (Connection: close), collecting the response; never rejects:
 * a refused handshake or a closed connection comes back in `error` / an empty `response`.
 */
export function tlsGet(port: number, opts: {
  servername?: string; ca?: string; cert?: string; key?: string; alpn?: string[]; path?: string;
}): Promise<TlsGetResult> {
  return new Promise((resolve) => {
    let response = '';
    let alpn: string | false | null = null;
    let fingerprint: string | null = null;
    let error: string | null = null;
    const s = tls.connect({
      host: '127.0.0.1', port,
      ...(opts.servername ? { servername: opts.servername } : {}),
      ...(opts.ca ? { ca: readFileSync(opts.ca) } : {}),
      ...(opts.cert ? { cert: readFileSync(opts.cert), key: readFileSync(opts.key!) } : {}),
      ...(opts.alpn ? { ALPNProtocols: opts.alpn } : {}),
      rejectUnauthorized: false,
    }, () => {
      alpn = s.alpnProtocol;
      fingerprint = s.getPeerCertificate().fingerprint256 ?? null;
      s.write(`GET ${opts.path ?? '/'} HTTP/1.1\r\nHost: ${opts.servername ?? 'localhost'}\r\nConnection: close\r\n\r\n`);
    });
    s.on('data', (d: Buffer) => { response += d.toString('latin1'); });
    s.on('error', (e) => { error = e.message; });
    s.on('close', () => resolve({ response, alpn, fingerprint, error }));
  });
}

/** The body of an HTTP/1.1 response with Content-Length. */
export function bodyOf(response: string): string {
  const i = response.indexOf('\r\n\r\n');
  return i < 0 ? '' : response.slice(i + 4);
}

/** SHA-256 fingerprint (Node's `AA:BB:...` form) of a PEM certificate file. */
export async function fingerprintOf(certFile: string): Promise<string> {
  const { X509Certificate } = await import('node:crypto');
  return new X509Certificate(readFileSync(certFile)).fingerprint256;
}
