// Worker-thread entry: parses one config text (see text.ts) and posts the result back.

import { parentPort, workerData } from 'node:worker_threads';
import { parseConfigText } from './text.js';

const { text, fileName } = workerData as { text: string; fileName: string };
parentPort!.postMessage(parseConfigText(text, fileName));
