// Entry point of a `weft proxy --concurrency N` worker process (forked by primary.ts).
import { runWorker } from './worker.js';

runWorker();
