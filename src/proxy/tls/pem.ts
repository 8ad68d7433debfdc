// PEM checks shared by the config adapter (errors with field paths) and certificate reload (a bad
// new file keeps the old certificates): certificate bundles and certificate/key pairs.

import { createPrivateKey, X509Certificate } from 'node:crypto';

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every certificate of a PEM bundle, parsed; an error text when there is none or one is bad. */
export function parseCertificates(text: string): X509Certificate[] | string {
  const blocks = text.match(PEM_CERT);
  if (blocks === null) return 'no PEM CERTIFICATE block';
  const out: X509Certificate[] = [];
  for (const b of blocks) {
    try { out.push(new X509Certificate(b)); } catch (err) { return (err as Error).message; }
  }
  return out;
}

/** Checks a certificate chain and its private key; null when usable, else which one is wrong and why. */
export function checkKeyPair(chain: string, key: string): { field: 'certificate_chain' | 'private_key'; why: string } | null {
  const certs = parseCertificates(chain);
  if (typeof certs === 'string') return { field: 'certificate_chain', why: `a PEM certificate chain (${certs})` };
  let pkey;
  try { pkey = createPrivateKey(key); } catch (err) { return { field: 'private_key', why: `a PEM private key (${(err as Error).message})` }; }
  if (!certs[0]!.checkPrivateKey(pkey)) return { field: 'private_key', why: 'the private key of the first certificate of certificate_chain' };
  return null;
}
