import YAML from 'yaml';
import { validateDocument } from '/work/wt-istio-api/dist/src/control/api/index.js';
import { readFileSync } from 'node:fs';
const r = validateDocument(YAML.parse(readFileSync(0, 'utf8')), 'reviews.yaml#2');
console.log(r.ok ? JSON.stringify(r.value.spec, null, 1) : r.errors.join('\n'));
