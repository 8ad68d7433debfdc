// Weft's version: package.json's, read once at run time, so there is one source of truth. Used by
// `weft --version`, the proxy's /server_info and the xDS node's user_agent_version.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function readVersion(): string {
  // From dist/src or src: the nearest package.json above this file is weft's.
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  try {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
    if (pkg.name === 'weft' && typeof pkg.version === 'string') return pkg.version;
  } catch { /* fall through */ }
  return 'unknown';
}

/** The package version, e.g. `0.1.0`. */
export const WEFT_VERSION: string = readVersion();
