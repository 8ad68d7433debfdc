// One-request probes that tell whether a target of a protocol scenario is up and answers correctly
// before it is measured: an HTTP/2 request over h2c (GET or a gRPC unary POST) with its trailers,
// and an HTTPS GET (with the negotiated TLS version and cipher).
import { connect as h2connect, constants as h2 } from 'node:http2';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

export interface H2Response {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly trailers: Record<string, string>;
  readonly body: Buffer;
}

function flat(h: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : String(v);
  return out;
}

/** One HTTP/2 request over cleartext (prior knowledge), on its own session. */
export function h2Request(
  port: number,
  req: { method?: string; path: string; headers?: Record<string, string>; body?: Buffer },
  timeoutMs = 2000,
): Promise<H2Response> {
  return new Promise((resolve, reject) => {
    const session = h2connect(`http://127.0.0.1:${port}`);
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Error(`timeout on port ${port}`));
    }, timeoutMs);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      session.destroy();
      reject(err);
    };
    session.on('error', fail);
    const stream = session.request({
      [h2.HTTP2_HEADER_METHOD]: req.method ?? 'GET',
      [h2.HTTP2_HEADER_PATH]: req.path,
      [h2.HTTP2_HEADER_SCHEME]: 'http',
      [h2.HTTP2_HEADER_AUTHORITY]: `127.0.0.1:${port}`,
      ...req.headers,
    });
    let status = 0;
    let headers: Record<string, string> = {};
    let trailers: Record<string, string> = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      status = Number(h[':status']);
      headers = flat(h);
    });
    stream.on('trailers', (t) => (trailers = flat(t)));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', fail);
    stream.on('end', () => {
      clearTimeout(timer);
      session.close();
      resolve({ status, headers, trailers, body: Buffer.concat(chunks) });
    });
    stream.end(req.body);
  });
}

/** The gRPC framing of one message: compressed flag 0, 4-byte big-endian length, the bytes. */
export function grpcFrame(message: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/** A protobuf message with one length-delimited field 1 (a string), e.g. `{ name: "..." }`. */
export function protoString(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length > 127) throw new Error('protoString: keep it under 128 bytes (one-byte varint)');
  return Buffer.concat([Buffer.from([0x0a, bytes.length]), bytes]);
}

export interface HttpsResponse {
  readonly status: number;
  readonly body: Buffer;
  /** Negotiated TLS version and cipher, e.g. "TLSv1.3", "TLS_AES_256_GCM_SHA384". */
  readonly protocol: string;
  readonly cipher: string;
}

/** One HTTPS GET over a fresh TLS connection (HTTP/1.1, Connection: close; the self-signed certificate is not verified). */
export function httpsGet(port: number, timeoutMs = 2000): Promise<HttpsResponse> {
  return new Promise((resolve, reject) => {
    const sock: TLSSocket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, servername: 'localhost' });
    const chunks: Buffer[] = [];
    let protocol = '?';
    let cipher = '?';
    sock.setTimeout(timeoutMs, () => sock.destroy(new Error(`timeout on port ${port}`)));
    sock.on('secureConnect', () => {
      protocol = sock.getProtocol() ?? '?';
      cipher = sock.getCipher()?.standardName ?? '?';
      sock.write(`GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    });
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', reject);
    sock.on('close', () => {
      const raw = Buffer.concat(chunks);
      const end = raw.indexOf('\r\n\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(raw.subarray(0, 16).toString('latin1'));
      if (end < 0 || !m) return reject(new Error(`no HTTP response over TLS on port ${port}`));
      resolve({ status: Number(m[1]), body: raw.subarray(end + 4), protocol, cipher });
    });
  });
}
