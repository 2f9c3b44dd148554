import { spawn } from 'node:child_process';
import { track } from './children.js';
import { fileURLToPath } from 'node:url';
import { hugePageEnv } from '../../src/core/aligned-memory.js';
import { ANSWER_MARK, type BackupAnswer, type PeakRss, type RestoreAnswer, type WorkerAnswer, type WorkerMemory, type WorkerTask } from './worker-protocol.js';

const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url));

type AnswerOf<T extends WorkerTask['kind']> = (T extends 'backup' ? BackupAnswer : T extends 'restore' ? RestoreAnswer : { kind: 'idle' }) &
  PeakRss &
  WorkerMemory;

/** The environment a worker starts with: the one `hvsnap` starts a data command with (src/cli/main.ts). */
const WORKER_ENV = hugePageEnv() ?? process.env;

/** Where the workers' direct I/O buffers came from, as they said (the bench reports it). */
export const workerMemorySeen = new Set<string>();

/**
 * Runs one task in a fresh `node worker.js` process (a child of the bench), started as `hvsnap`
 * starts a command that moves disk data, and returns its answer.
 * A worker that exits non-zero or prints no answer is an error carrying its stderr.
 */
export function runWorker<T extends WorkerTask>(task: T): Promise<AnswerOf<T['kind']>> {
  return new Promise((resolve, reject) => {
    const child = track(spawn(process.execPath, [WORKER, JSON.stringify(task)], { stdio: ['ignore', 'pipe', 'pipe'], env: WORKER_ENV }));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 8000) stderr += d.toString();
    });
    child.on('error', (e) => reject(new Error(`cannot start the bench worker ${WORKER}: ${e.message}`, { cause: e })));
    child.on('close', (code, sig) => {
      const line = stdout.split('\n').find((l) => l.startsWith(ANSWER_MARK));
      if (code !== 0 || !line) {
        reject(new Error(`bench worker (${task.kind}) exited with ${code ?? sig}: ${stderr.trim() || 'no answer'}`));
        return;
      }
      const answer = JSON.parse(line.slice(ANSWER_MARK.length)) as WorkerAnswer;
      workerMemorySeen.add(answer.alignedMemory);
      resolve(answer as AnswerOf<T['kind']>);
    });
  });
}
