// Locates the repository root from a test file, whether it runs from test/ (tsx) or dist/test/ (tsc).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'tsconfig.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('repository root not found');
    dir = up;
  }
}

/** Absolute path of the repository root. */
export const repoRoot = findRoot();
/** Absolute path of a file under the repository root. */
export const fromRoot = (...parts: string[]): string => join(repoRoot, ...parts);
