// ALPN on Weft's TLS listeners (server side) and what a negotiated value means to the HTTP
// connection manager, with Istio's mesh markers.
//
// Istio's clients mark mesh mTLS with ALPN: `istio-h2`, `istio-http/1.1`, `istio-http/1.0` (HTTP)
// or `istio-peer-exchange`, `istio` (TCP), usually beside the real protocol (`istio-h2, istio,
// h2`), so that inbound filter chains can match the markers (application_protocols, through
// tls_inspector) and tell mesh mTLS from plaintext or other TLS on one PERMISSIVE port. Envoy's
// server picks the first of its alpn_protocols the client offers, and without one continues
// with no ALPN at all. Node can neither skip ALPN nor select a protocol the client did not offer
// (no-overlap is a fatal no_application_protocol alert), so Weft's rule (a documented
// difference) is: the first of the context's alpn_protocols the client offers; else, when the
// client offers a marker for one of them, that marker (`istio-h2` for `h2`, `istio-http/1.1` or
// `istio-http/1.0` for `http/1.1`), which the HTTP connection manager reads as the protocol it
// stands for (alpnCodec); else `istio`, then `istio-peer-exchange`, if offered (the codec is then
// chosen as without ALPN); else the handshake fails, as Node's own selection does.

/** The protocol an ALPN value stands for: Istio's HTTP markers map to `h2` / `http/1.1`; others unchanged. */
export function alpnCodec(alpn: string | null): string | null {
  switch (alpn) {
    case 'istio-h2': return 'h2';
    case 'istio-http/1.1':
    case 'istio-http/1.0': return 'http/1.1';
    default: return alpn;
  }
}

const ISTIO_MARKERS: Readonly<Record<string, readonly string[]>> = {
  'h2': ['istio-h2'],
  'http/1.1': ['istio-http/1.1', 'istio-http/1.0'],
  'http/1.0': ['istio-http/1.0'],
};

/** A server-side ALPN selection over `server` (non-empty, in preference order), per Weft's rule above. */
export function alpnSelector(server: readonly string[]): (info: { protocols: string[] }) => string | undefined {
  const markers = server.map((p) => (ISTIO_MARKERS[p] ?? []).filter((m) => !server.includes(m)));
  return ({ protocols }) => {
    for (const p of server) if (protocols.includes(p)) return p;
    for (const ms of markers) for (const m of ms) if (protocols.includes(m)) return m;
    if (protocols.includes('istio')) return 'istio';
    if (protocols.includes('istio-peer-exchange')) return 'istio-peer-exchange';
    return undefined;
  };
}
