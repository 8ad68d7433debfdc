// Test PKI made with the openssl CLI at test time in a temp dir: a CA, leaf certificates (server
// or client, ECDSA P-256 or RSA, with DNS / URI / IP / email SANs), revocation with a CRL, and a
// second, untrusted CA. Every file path is absolute; `close()` removes the directory.

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface LeafFiles {
  readonly cert: string;
  readonly key: string;
}

export interface LeafOptions {
  /** Subject CN (default: the name). */
  readonly cn?: string;
  /** SAN entries in openssl syntax: `DNS:a.example`, `URI:spiffe://x`, `IP:127.0.0.1`, `email:a@b`. */
  readonly sans?: readonly string[];
  readonly keyType?: 'ec' | 'rsa';
}

export interface TestCa {
  readonly dir: string;
  /** The CA certificate (PEM file). */
  readonly cert: string;
  readonly key: string;
  /** Issues a leaf certificate (usable for server and client auth) named `<name>.pem` / `<name>.key`. */
  issue(name: string, opts?: LeafOptions): Promise<LeafFiles>;
  /** Revokes a certificate issued by this CA and writes the CRL; returns the CRL file. */
  revoke(cert: string): Promise<string>;
  /** An (empty, or current) CRL file of this CA. */
  crl(): Promise<string>;
}

export interface TestPki extends TestCa {
  /** Makes another CA in the same directory (e.g. an untrusted one). */
  otherCa(name: string): Promise<TestCa>;
  /** Path of a file in the directory. */
  file(name: string): string;
  close(): void;
}

async function keyArgs(type: 'ec' | 'rsa'): Promise<string[]> {
  return type === 'ec' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'] : ['-newkey', 'rsa:2048'];
}

async function makeCa(dir: string, name: string): Promise<TestCa> {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  await run('openssl', [
    'req', '-x509', ...(await keyArgs('ec')), '-nodes', '-keyout', key, '-out', cert, '-days', '2',
    '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  const db = join(dir, `${name}-index.txt`);
  writeFileSync(db, '');
  writeFileSync(join(dir, `${name}-crlnumber`), '01\n');
  const caConf = join(dir, `${name}-ca.cnf`);
  writeFileSync(caConf, [
    '[ ca ]', 'default_ca = d', '[ d ]', `database = ${db}`, `crlnumber = ${join(dir, `${name}-crlnumber`)}`,
    'default_md = sha256', 'default_crl_days = 2', `certificate = ${cert}`, `private_key = ${key}`, '',
  ].join('\n'));
  const crlFile = join(dir, `${name}-crl.pem`);
  let serial = 1;
  const ca: TestCa = {
    dir, cert, key,
    async issue(leaf, opts = {}) {
      const lc = join(dir, `${leaf}.pem`);
      const lk = join(dir, `${leaf}.key`);
      const csr = join(dir, `${leaf}.csr`);
      const ext = join(dir, `${leaf}.ext`);
      const lines = ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', 'extendedKeyUsage=serverAuth,clientAuth'];
      if (opts.sans && opts.sans.length > 0) lines.push(`subjectAltName=${opts.sans.join(',')}`);
      writeFileSync(ext, lines.join('\n') + '\n');
      await run('openssl', ['req', '-new', ...(await keyArgs(opts.keyType ?? 'ec')), '-nodes', '-keyout', lk, '-out', csr, '-subj', `/CN=${opts.cn ?? leaf}`]);
      await run('openssl', [
        'x509', '-req', '-in', csr, '-CA', cert, '-CAkey', key, '-set_serial', String(1000 + serial++), '-out', lc, '-days', '2',
        '-extfile', ext,
      ]);
      return { cert: lc, key: lk };
    },
    async revoke(leafCert) {
      await run('openssl', ['ca', '-config', caConf, '-revoke', leafCert]);
      return ca.crl();
    },
    async crl() {
      await run('openssl', ['ca', '-config', caConf, '-gencrl', '-out', crlFile]);
      return crlFile;
    },
  };
  return ca;
}

/** A fresh PKI in a temp dir (the root CA is called `ca`). */
export async function makePki(): Promise<TestPki> {
  const dir = mkdtempSync(join(tmpdir(), 'weft-pki-'));
  const ca = await makeCa(dir, 'ca');
  return {
    ...ca,
    otherCa: (name) => makeCa(dir, name),
    file: (name) => join(dir, name),
    close: () => rmSync(dir, { recursive: true, force: true }),
  };
}
