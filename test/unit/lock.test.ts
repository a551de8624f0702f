import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it, onTestFinished } from 'vitest';
import { labPaths } from '../../src/lab/paths.js';
import { ROOT } from '../harness/cli.js';
import { testDir } from '../harness/lab.js';

const WORKERS = 10;
const ROUNDS = 20;

/**
 * A worker takes the lab lock once per line on stdin and, holding it, does an unprotected
 * read-increment-write of a counter file: two holders at once lose an update.
 */
const worker = (home: string, counter: string) => `
  import { readFile, writeFile } from 'node:fs/promises';
  import { createInterface } from 'node:readline';
  import { withLabLock } from ${JSON.stringify(join(ROOT, 'dist/lab/lock.js'))};
  import { labPaths } from ${JSON.stringify(join(ROOT, 'dist/lab/paths.js'))};
  const paths = labPaths(${JSON.stringify(home)}, 'audit-lab');
  for await (const _ of createInterface({ input: process.stdin })) {
    await withLabLock(paths, 'count', async () => {
      const n = Number(await readFile(${JSON.stringify(counter)}, 'utf8'));
      await new Promise((r) => setImmediate(r));
      await writeFile(${JSON.stringify(counter)}, String(n + 1));
    }, { timeoutMs: 60000, pollMs: 5 });
    process.stdout.write('done\\n');
  }`;

interface Worker {
  child: ChildProcessWithoutNullStreams;
  next: () => Promise<string>;
}

function startWorker(script: string): Worker {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script]);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => {
    const r = await lines.next();
    if (r.done) throw new Error(`worker ${child.pid} ended: ${stderr}`);
    return r.value as string;
  };
  return { child, next };
}

/** The pid of a process that has exited and been reaped: a lock naming it is stale. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => child.once('exit', r));
  return child.pid!;
}

describe('lab lock under contention', () => {
  it.each([
    ['no lock at the start', false],
    ["a dead holder's lock at the start", true],
  ])(`${WORKERS} processes x ${ROUNDS} rounds, %s: no update lost, no lock files left`, async (_, stale) => {
    const home = join(await testDir(), 'home');
    const paths = labPaths(home, 'audit-lab');
    await mkdir(paths.dir, { recursive: true });
    const counter = join(paths.dir, 'counter');
    await writeFile(counter, '0');
    const script = worker(home, counter);
    const workers = Array.from({ length: WORKERS }, () => startWorker(script));
    onTestFinished(() => workers.forEach((w) => w.child.kill()));
    const dead = await deadPid();

    const lost: string[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      if (stale) {
        await writeFile(paths.lock, JSON.stringify({ pid: dead, command: 'up', since: new Date(0).toISOString() }));
      }
      // Every worker goes at once; each answers when it has counted.
      for (const w of workers) w.child.stdin.write('go\n');
      for (const w of workers) expect(await w.next()).toBe('done');
      const n = Number(await readFile(counter, 'utf8'));
      if (n !== round * WORKERS) lost.push(`round ${round}: ${round * WORKERS - n} lost`);
      await writeFile(counter, String(round * WORKERS));
    }
    expect(lost).toEqual([]);
    expect((await readdir(paths.dir)).sort()).toEqual(['counter']);
  });
});
