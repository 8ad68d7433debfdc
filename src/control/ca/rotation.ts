// Root rotation for Weft's CA, in three steps so that no connection ever sees a certificate its
// peer cannot verify (the sequence Istio documents for plug-in CA root changes, automated):
//   steady    bundle [current]                 current signs
//   prepare   bundle [current, next]           current still signs; proxies learn to trust next
//   activate  bundle [next, current]           next signs; leaves are re-issued from it
//   retire    bundle [next]                    the old root is no longer trusted
// State lives in `<data-dir>/ca/` (root-cert.pem + root-key.pem: the signing root; next-root-*.pem
// while prepared; old-root-cert.pem while activated; rotation.json: the phase), written atomically,
// keys with mode 0600. Without a data dir everything is in memory.

import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPrivateKey } from 'node:crypto';
import { newRootSet, rootSetFromPem, type SigningSet } from './ca.js';

export type RotationPhase = 'steady' | 'prepared' | 'activated';

export interface RootsState {
  readonly phase: RotationPhase;
  /** What signs now. */
  readonly signing: SigningSet;
  /** The other root: the next one (prepared) or the old one (activated). */
  readonly other?: { readonly rootPem: string; readonly set?: SigningSet };
}

/** The trust bundle of a state: the signing root first. */
export function bundleOf(s: RootsState): string[] {
  return s.other === undefined ? [s.signing.rootPem] : [s.signing.rootPem, s.other.rootPem];
}

function writeAtomic(file: string, text: string, mode = 0o644): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode });
  renameSync(tmp, file);
}

/** Where the roots are kept, and the phase transitions. */
export class RootStore {
  readonly #dir: string | undefined;
  #state: RootsState;

  private constructor(dir: string | undefined, state: RootsState) { this.#dir = dir; this.#state = state; }

  /**
   * Loads `<dataDir>/ca/` or creates a root there; without a data dir, an ephemeral root. A
   * plug-in set (cacerts files) signs instead of a self-managed root (its rotation is not kept
   * across restarts: the files are the truth then).
   */
  static async open(opts: { dataDir?: string; trustDomain: string; plugin?: SigningSet }): Promise<{ store: RootStore; created: boolean }> {
    if (opts.plugin !== undefined) return { store: new RootStore(undefined, { phase: 'steady', signing: opts.plugin }), created: false };
    if (opts.dataDir === undefined) return { store: new RootStore(undefined, { phase: 'steady', signing: await newRootSet(opts.trustDomain) }), created: true };
    const dir = join(opts.dataDir, 'ca');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const certFile = join(dir, 'root-cert.pem'), keyFile = join(dir, 'root-key.pem');
    if (!existsSync(certFile)) {
      const store = new RootStore(dir, { phase: 'steady', signing: await newRootSet(opts.trustDomain) });
      store.#persist();
      return { store, created: true };
    }
    const signing = rootSetFromPem(readFileSync(certFile, 'utf8'), readFileSync(keyFile, 'utf8'), { cert: certFile, key: keyFile });
    let phase: RotationPhase = 'steady';
    try { phase = (JSON.parse(readFileSync(join(dir, 'rotation.json'), 'utf8')) as { phase: RotationPhase }).phase ?? 'steady'; } catch { /* steady */ }
    let other: RootsState['other'];
    if (phase === 'prepared') {
      const c = readFileSync(join(dir, 'next-root-cert.pem'), 'utf8');
      other = { rootPem: c, set: rootSetFromPem(c, readFileSync(join(dir, 'next-root-key.pem'), 'utf8')) };
    } else if (phase === 'activated') {
      other = { rootPem: readFileSync(join(dir, 'old-root-cert.pem'), 'utf8') };
    }
    return { store: new RootStore(dir, { phase, signing, other }), created: false };
  }

  get state(): RootsState { return this.#state; }
  get persistent(): boolean { return this.#dir !== undefined; }

  /** Adds a new root to the bundle (generated, or the given cert+key PEM); the current one still signs. */
  async prepare(trustDomain: string, given?: { certPem: string; keyPem: string }): Promise<RootsState> {
    if (this.#state.phase !== 'steady') throw new Error(`cannot prepare: a rotation is already ${this.#state.phase} (activate or retire it first)`);
    const next = given === undefined ? await newRootSet(trustDomain) : rootSetFromPem(given.certPem, given.keyPem);
    if (next.certPem !== next.rootPem) throw new Error('--root-cert: a rotation needs a root (self-signed), not an intermediate');
    return this.#set({ phase: 'prepared', signing: this.#state.signing, other: { rootPem: next.rootPem, set: next } });
  }

  /** The next root signs from now on; the old one stays trusted. */
  activate(): RootsState {
    const s = this.#state;
    if (s.phase !== 'prepared' || s.other?.set === undefined) throw new Error(`cannot activate: no prepared root (phase ${s.phase}; run 'weft ca rotate prepare' first)`);
    return this.#set({ phase: 'activated', signing: s.other.set, other: { rootPem: s.signing.rootPem } });
  }

  /** The old root leaves the bundle. */
  retire(): RootsState {
    const s = this.#state;
    if (s.phase !== 'activated') throw new Error(`cannot retire: no activated rotation (phase ${s.phase}; run 'weft ca rotate activate' first)`);
    return this.#set({ phase: 'steady', signing: s.signing });
  }

  #set(s: RootsState): RootsState {
    this.#state = s;
    this.#persist();
    return s;
  }

  #persist(): void {
    const dir = this.#dir;
    if (dir === undefined) return;
    const s = this.#state;
    // Order matters for a crash in the middle: the phase file is written last.
    writeAtomic(join(dir, 'root-key.pem'), s.signing.keyPem, 0o600);
    writeAtomic(join(dir, 'root-cert.pem'), s.signing.rootPem);
    for (const f of ['next-root-cert.pem', 'next-root-key.pem', 'old-root-cert.pem']) {
      const keep = (s.phase === 'prepared' && f.startsWith('next-')) || (s.phase === 'activated' && f === 'old-root-cert.pem');
      if (!keep) rmSync(join(dir, f), { force: true });
    }
    if (s.phase === 'prepared') {
      writeAtomic(join(dir, 'next-root-key.pem'), s.other!.set!.keyPem, 0o600);
      writeAtomic(join(dir, 'next-root-cert.pem'), s.other!.rootPem);
    } else if (s.phase === 'activated') {
      writeAtomic(join(dir, 'old-root-cert.pem'), s.other!.rootPem);
    }
    writeAtomic(join(dir, 'rotation.json'), `${JSON.stringify({ phase: s.phase })}\n`);
  }
}

/** Checks a PEM private key parses (for CLI input before it is sent). */
export function isPrivateKeyPem(pem: string): boolean {
  try { createPrivateKey(pem); return true; } catch { return false; }
}
