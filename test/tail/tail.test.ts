import { appendFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StoredEvent } from '../../src/audit/filter.js';
import { makeContext } from '../../src/commands/context.js';
import type { TailOptions } from '../../src/commands/tail.js';
import { tail, type TailDeps } from '../../src/commands/tail.js';
import { mergeOrder } from '../../src/streams/merge.js';
import type { IO } from '../../src/io.js';
import type { LabPaths } from '../../src/lab/paths.js';
import { run } from '../../src/main.js';
import { ANSI } from '../harness/cli.js';
import { fixtureLines, variant } from '../harness/events.js';
import { makeLab, putFixture, removeHome, tempHome } from '../harness/lab.js';

class Sink {
  text = '';
  private waiters: (() => void)[] = [];
  constructor(readonly isTTY = false) {}
  write(chunk: string): boolean {
    this.text += chunk;
    for (const w of this.waiters.splice(0)) w();
    return true;
  }
  /** Resolves once the text satisfies `test` (re-checked on each write). */
  async until(test: (text: string) => boolean): Promise<void> {
    while (!test(this.text)) {
      if (this.text.includes('<tail failed:')) throw new Error(this.text);
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }
}

/**
 * A test IO. Unless `receiver` is set, AUDIT_LAB_NO_RECEIVER=1 is in its env, so that a tail that
 * wrongly follows can never start a real receiver from a test; the tests about the receiver inject
 * a fake and leave the variable out.
 */
function io(
  home: string,
  opts: { tty?: boolean; env?: Record<string, string>; receiver?: boolean } = {},
): IO & { stdout: Sink; stderr: Sink } {
  const env = { AUDIT_LAB_HOME: home, ...(opts.receiver ? {} : { AUDIT_LAB_NO_RECEIVER: '1' }), ...opts.env };
  return { stdout: new Sink(opts.tty), stderr: new Sink(opts.tty), env, cwd: home };
}

const base: TailOptions = {
  name: 'audit-lab',
  sinks: [],
  files: [],
  follow: false,
  tail: -1,
  utc: true,
  output: 'jsonl',
  verb: [],
  user: [],
  namespace: [],
  resource: [],
  stage: [],
  code: [],
};

let home: string;
let paths: LabPaths;
beforeEach(async () => {
  home = await tempHome();
  paths = await makeLab(home);
  await putFixture(paths, 'default.log');
  await putFixture(paths, 'secrets.log');
});
afterEach(() => removeHome(home));

function fakeReceiver() {
  const calls: LabPaths[] = [];
  const ensureReceiver: TailDeps['ensureReceiver'] = async (p) => {
    calls.push(p);
    return { pid: 4242, url: 'https://127.0.0.1:8845', started: true };
  };
  return { calls, ensureReceiver };
}

describe('mergeOrder', () => {
  const e = (sink: string, id: string, received?: string, stage?: string) => ({
    sink,
    id,
    event: {
      ...(received ? { requestReceivedTimestamp: `2024-05-01T10:00:${received}Z` } : {}),
      ...(stage ? { stageTimestamp: `2024-05-01T10:00:${stage}Z` } : {}),
    } as StoredEvent,
  });
  const ids = (xs: { id: string }[]) => xs.map((x) => x.id).join(' ');

  it.each([
    [
      'interleaves sinks by time received',
      [e('a', 'a1', '01'), e('a', 'a2', '03'), e('b', 'b1', '02'), e('b', 'b2', '04')],
      'a1 b1 a2 b2',
    ],
    ['then by stage time', [e('a', 'a1', '01', '05'), e('b', 'b1', '01', '02')], 'b1 a1'],
    ['stable: equal times keep sink order', [e('b', 'b1', '01', '02'), e('a', 'a1', '01', '02')], 'b1 a1'],
    [
      'keeps one sink in stored order, whatever its times',
      [e('a', 'a1', '05'), e('a', 'a2', '01'), e('a', 'a3', '03')],
      'a1 a2 a3',
    ],
    [
      'a long request stored late stays where it was stored in its sink',
      [e('a', 'a1', '01', '02'), e('a', 'w', '00', '09'), e('b', 'b1', '05', '05')],
      'a1 w b1',
    ],
    [
      'an event without times follows the one before it',
      [e('a', 'a1', '01'), e('a', 'x'), e('b', 'b1', '02'), e('a', 'a2', '03')],
      'a1 x b1 a2',
    ],
    ['stage time alone will do', [e('a', 'a1', undefined, '03'), e('b', 'b1', undefined, '02')], 'b1 a1'],
  ])('%s', (_name, items, want) => {
    expect(ids(mergeOrder(items))).toBe(want);
  });
});

describe('tail --no-follow (in process)', () => {
  it('never starts the receiver', async () => {
    const fake = fakeReceiver();
    const o = io(home, { receiver: true });
    expect(await tail(base, makeContext(o), { ensureReceiver: fake.ensureReceiver })).toBe(0);
    expect(fake.calls).toEqual([]);
    expect(o.stdout.text.split('\n').filter(Boolean)).toHaveLength(13);
  });

  it('colours pretty output on a terminal, not with NO_COLOR, and never jsonl', async () => {
    const tty = io(home, { tty: true });
    await tail({ ...base, output: 'pretty' }, makeContext(tty));
    expect(tty.stdout.text).toMatch(ANSI);

    const noColor = io(home, { tty: true, env: { NO_COLOR: '1' } });
    await tail({ ...base, output: 'pretty' }, makeContext(noColor));
    expect(noColor.stdout.text).not.toMatch(ANSI);
    expect(noColor.stdout.text.replace(/ +/g, ' ')).toBe(
      tty.stdout.text.replace(/\u001b\[\d+m/g, '').replace(/ +/g, ' '),
    );

    const jsonl = io(home, { tty: true });
    await tail(base, makeContext(jsonl));
    expect(jsonl.stdout.text).not.toMatch(ANSI);
  });

  it('--since with a duration counts back from now', async () => {
    const o = io(home);
    const now = () => Date.parse('2024-05-01T10:00:10Z');
    await tail({ ...base, since: '4s', sinks: ['default'] }, makeContext(o), { now });
    // Received at or after 10:00:06: the /healthz, the delete and the namespace get.
    expect(
      o.stdout.text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l).verb),
    ).toEqual(['get', 'delete', 'get']);
  });

  it('an unknown lab is exit 2 and says how to make one', async () => {
    const o = io(home);
    expect(await run(['tail', '--no-follow', '--name', 'other'], o)).toBe(2);
    expect(o.stderr.text).toMatch(/no lab named "other"/);
    expect(o.stderr.text).toMatch(/audit-lab up/);
  });

  it('a sink known only from its files (deleted from the lab) can still be read', async () => {
    await putFixture(paths, 'secrets.log', 'old.log.1');
    const o = io(home);
    expect(await run(['tail', '--no-follow', '--sink', 'old', '-o', 'jsonl'], o)).toBe(0);
    expect(o.stdout.text).toBe((await fixtureLines('secrets.log')).map((l) => `${l}\n`).join(''));
  });

  it('a sink of the lab with no stream yet shows nothing, without error', async () => {
    const empty = await makeLab(await tempHome(), ['fresh']);
    const o2 = io(empty.home);
    expect(await tail({ ...base, sinks: ['fresh'] }, makeContext(o2))).toBe(0);
    expect(o2.stdout.text).toBe('');
    await removeHome(empty.home);
  });
});

describe('tail following (in process, fake receiver)', () => {
  async function following(opts: Partial<TailOptions> = {}, env: Record<string, string> = {}) {
    const fake = fakeReceiver();
    const stop = new AbortController();
    const o = io(home, { env, receiver: true });
    const done = tail({ ...base, follow: true, ...opts }, makeContext(o), {
      ensureReceiver: fake.ensureReceiver,
      interrupt: stop.signal,
      pollMs: 20,
    });
    // A tail that fails must fail the test, not leave it waiting for output.
    done.catch((err: unknown) => {
      o.stdout.write(`\n<tail failed: ${String(err)}>`);
    });
    return { fake, stop, o, done };
  }

  it('starts the receiver for the lab, then shows stored and new events until interrupted', async () => {
    const { fake, stop, o, done } = await following({ sinks: ['default'] });
    await o.stdout.until((t) => t.split('\n').length > 10);
    expect(fake.calls.map((p) => p.dir)).toEqual([paths.dir]);
    expect(o.stderr.text).toContain('started the receiver (pid 4242) at https://127.0.0.1:8845');

    const [first] = await fixtureLines('default.log');
    const added = variant(first!, 'added-1');
    await appendFile(join(paths.streamsDir, 'default.log'), `${added}\n`);
    await o.stdout.until((t) => t.includes('added-1'));
    await rename(join(paths.streamsDir, 'default.log'), join(paths.streamsDir, 'default.log.1'));
    await writeFile(join(paths.streamsDir, 'default.log'), `${variant(first!, 'added-2')}\n`);
    await o.stdout.until((t) => t.includes('added-2'));

    stop.abort();
    expect(await done).toBe(0);
    const lines = o.stdout.text.split('\n').filter(Boolean);
    expect(lines.slice(10)).toEqual([added, variant(first!, 'added-2')]);
    expect(o.stderr.text).toContain('12 events shown');
    expect(o.stderr.text).toMatch(/by verb: list 4, get 3,/);
  });

  it('warns when the receiver it started listens on every interface', async () => {
    const stop = new AbortController();
    const o = io(home, { receiver: true });
    const ensureReceiver: TailDeps['ensureReceiver'] = async () => ({
      pid: 4242,
      url: 'https://127.0.0.1:8845',
      started: true,
      address: '0.0.0.0',
    });
    const done = tail({ ...base, follow: true }, makeContext(o), {
      ensureReceiver,
      interrupt: stop.signal,
      pollMs: 20,
    });
    await o.stdout.until((t) => t.split('\n').length > 10);
    stop.abort();
    expect(await done).toBe(0);
    expect(o.stderr.text).toContain('started the receiver (pid 4242) at https://127.0.0.1:8845');
    expect(o.stderr.text).toContain(
      'the receiver listens on every interface (0.0.0.0): any machine that reaches this one can connect',
    );
  });

  it('says nothing of interfaces for a receiver on one address, or one already running', async () => {
    for (const r of [
      { pid: 4242, url: 'https://127.0.0.1:8845', started: true, address: '127.0.0.1' },
      { pid: 4242, url: 'https://127.0.0.1:8845', started: false },
    ]) {
      const stop = new AbortController();
      const o = io(home, { receiver: true });
      const done = tail({ ...base, follow: true }, makeContext(o), {
        ensureReceiver: async () => r,
        interrupt: stop.signal,
        pollMs: 20,
      });
      await o.stdout.until((t) => t.split('\n').length > 10);
      stop.abort();
      expect(await done).toBe(0);
      expect(o.stderr.text).not.toContain('every interface');
    }
  });

  it('AUDIT_LAB_NO_RECEIVER=1 follows without starting the receiver', async () => {
    const { fake, stop, o, done } = await following({}, { AUDIT_LAB_NO_RECEIVER: '1' });
    await o.stdout.until((t) => t.split('\n').length > 13);
    stop.abort();
    expect(await done).toBe(0);
    expect(fake.calls).toEqual([]);
  });

  it('a bad flag is exit 2 before anything starts', async () => {
    const fake = fakeReceiver();
    const o = io(home, { receiver: true });
    await expect(
      tail({ ...base, follow: true, code: ['nope'] }, makeContext(o), { ensureReceiver: fake.ensureReceiver }),
    ).rejects.toThrow(/--code/);
    await expect(
      tail({ ...base, follow: true, since: 'soon' }, makeContext(o), { ensureReceiver: fake.ensureReceiver }),
    ).rejects.toThrow(/--since/);
    await expect(
      tail({ ...base, follow: true, sinks: ['nope'] }, makeContext(o), { ensureReceiver: fake.ensureReceiver }),
    ).rejects.toThrow(/default, secrets/);
    expect(fake.calls).toEqual([]);
  });

  it('a receiver that cannot start fails the command', async () => {
    const o = io(home, { receiver: true });
    const ensureReceiver = async () => {
      throw new Error('port taken');
    };
    await expect(
      tail({ ...base, follow: true }, makeContext(o), { ensureReceiver, interrupt: new AbortController().signal }),
    ).rejects.toThrow('port taken');
  });
});
