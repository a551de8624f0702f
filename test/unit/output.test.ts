import { describe, expect, it } from 'vitest';
import { Output } from '../../src/ui/output.js';

const stream = (isTTY: boolean, columns?: number) => ({
  write: () => true,
  isTTY,
  ...(columns !== undefined ? { columns } : {}),
});

describe('Output', () => {
  it.each([
    ['a terminal', stream(true, 120), {}, true],
    ['a terminal of unknown width', stream(true), {}, true],
    ['a terminal that reports 0 columns', stream(true, 0), {}, false],
    ['a pipe', stream(false), {}, false],
    ['NO_COLOR', stream(true, 120), { NO_COLOR: '1' }, false],
    ['TERM=dumb', stream(true, 120), { TERM: 'dumb' }, false],
    ['CI', stream(true, 120), { CI: 'true' }, false],
  ])('spinners on %s: %s', (_, err, env, interactive) => {
    expect(new Output(stream(true, 120), err, env).interactive).toBe(interactive);
  });

  it('colours stdout only on a terminal without NO_COLOR', () => {
    expect(new Output(stream(true, 80), stream(false), {}).color).toBe(true);
    expect(new Output(stream(false), stream(true, 80), {}).color).toBe(false);
    expect(new Output(stream(true, 80), stream(true, 80), { NO_COLOR: '1' }).color).toBe(false);
  });

  it('off a terminal, a spinner is two plain lines', async () => {
    let err = '';
    const out = new Output(stream(false), { write: (s: string) => (err += s), isTTY: false }, {});
    const spin = await out.spinner('creating the cluster');
    spin.update('Preparing nodes');
    spin.succeed();
    expect(err).toMatch(/^creating the cluster \.\.\.\ncreating the cluster: done \(\d+\.\ds\)\n$/);
    expect(err).not.toMatch(/\u001b\[/);
  });
});
