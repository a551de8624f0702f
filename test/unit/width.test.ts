/**
 * Fitting text to a terminal's width (src/ui/width.ts, src/ui/table.ts): names cut in their
 * middle, columns cut to a common level, parts of a line left out whole, text wrapped at spaces;
 * and the width itself (src/io.ts), which only a terminal has.
 */
import stringWidth from 'string-width';
import { describe, expect, it } from 'vitest';
import { terminalWidth } from '../../src/io.js';
import { Output } from '../../src/ui/output.js';
import { tableLines } from '../../src/ui/table.js';
import { ellipsizeMiddle, joinFitting, levelWidths, wrapLines, wrapText } from '../../src/ui/width.js';

describe('ellipsizeMiddle', () => {
  it.each([
    ['pods', 10, 'pods'],
    ['system:kube-scheduler', 16, 'system:…cheduler'],
    ['system:kube-controller-manager', 16, 'system:…-manager'],
    ['kube-system/coredns-7c5ddbdf54-x2k9p', 12, 'kube-…-x2k9p'],
    ['abc', 1, '…'],
    ['abcdef', 2, '…f'],
    // Wide characters take two columns and are never split.
    ['漢字のなまえです', 7, '漢…です'],
    ['e\u0301e\u0301e\u0301e\u0301', 3, 'e\u0301…e\u0301'],
  ])('ellipsizeMiddle(%j, %i) is %j', (text, width, want) => {
    const got = ellipsizeMiddle(text, width);
    expect(got).toBe(want);
    expect(stringWidth(got)).toBeLessThanOrEqual(width);
  });
});

describe('levelWidths', () => {
  it('cuts the widest columns to one level first, never below a floor, and leaves columns without one alone', () => {
    expect(levelWidths([40, 10, 30], [6, 6, 6], 60)).toEqual([25, 10, 25]);
    expect(levelWidths([40, 10, 30], [undefined, 6, 6], 60)).toEqual([40, 10, 10]);
    expect(levelWidths([40, 10, 30], [8, 8, 8], 10)).toEqual([8, 8, 8]);
    expect(levelWidths([5, 5], [2, 2], 20)).toEqual([5, 5]);
  });
});

describe('joinFitting', () => {
  const parts = [
    { text: 'q quit' },
    { text: 'p pause', drop: 3 },
    { text: 'n name', drop: 1 },
    { text: 'R reverse', drop: 2 },
  ];
  it('leaves parts out whole, lowest drop first, and keeps the order of the rest', () => {
    expect(joinFitting(parts, '  ', 80)).toBe('q quit  p pause  n name  R reverse');
    expect(joinFitting(parts, '  ', 30)).toBe('q quit  p pause  R reverse');
    expect(joinFitting(parts, '  ', 16)).toBe('q quit  p pause');
  });

  it('cuts what is left only when the parts that may not go are too wide', () => {
    expect(joinFitting(parts, '  ', 4)).toBe('q q…');
  });
});

describe('wrapText', () => {
  it('breaks at spaces, the lines after the first indented, none wider than the width', () => {
    const text =
      'the Docker daemon is not reachable: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?';
    const lines = wrapText(text, 60, { lead: 11, indent: 11 });
    expect(lines[0]!.startsWith('the Docker')).toBe(true);
    for (const [i, l] of lines.entries()) expect((i === 0 ? 11 : 0) + stringWidth(l), l).toBeLessThanOrEqual(60);
    for (const l of lines.slice(1)) expect(l).toMatch(/^ {11}\S/);
    expect(lines.map((l) => l.trim()).join(' ')).toBe(text);
  });

  it('breaks a word longer than a line where it must, and keeps the spaces inside a line', () => {
    expect(wrapText(`${'x'.repeat(25)} y`, 10)).toEqual(['x'.repeat(10), 'x'.repeat(10), 'xxxxx y']);
    expect(wrapText('lab       audit-lab', 40)).toEqual(['lab       audit-lab']);
  });

  it('without a width (not a terminal) is the text as one line', () => {
    const text = 'a '.repeat(100).trim();
    expect(wrapText(text, undefined)).toEqual([text]);
    expect(wrapLines(`${text}\n  ${text}`, undefined)).toBe(`${text}\n  ${text}`);
  });

  it('wrapLines wraps each line under itself', () => {
    const out = wrapLines(
      '2 lines are not audit events:\n  audit.log:7: not JSON: Unexpected token in JSON at position 12 of the line',
      40,
      'warning: '.length,
    );
    const lines = out.split('\n');
    expect(lines[0]).toBe('2 lines are not audit events:');
    expect(lines[1]).toMatch(/^ {2}audit\.log:7:/);
    for (const l of lines.slice(2)) expect(l).toMatch(/^ {4}\S/);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(40);
  });
});

describe('tableLines fitted to a width', () => {
  const rows = [
    ['NAME', 'URL', 'EVENTS', 'DIR'],
    ['audit-lab', 'https://127.0.0.1:8845', '1234567', '/home/someone/.audit-lab/audit-lab'],
    ['lab2', 'https://172.18.0.1:8846', '3', '/home/someone/.audit-lab/lab2'],
  ];

  it.each([80, 60, 40])(
    'at %i columns no line is wider; numbers (right-aligned) are never cut, names in their middle',
    (width) => {
      const lines = tableLines(rows, new Set([2]), width);
      for (const l of lines) expect(stringWidth(l), l).toBeLessThanOrEqual(width);
      expect(lines[1]).toContain('1234567');
      expect(lines[0]).toMatch(/^NAME +URL +EVENTS +DIR$/);
      if (width < 80) expect(lines[1]).toMatch(/ \/\S*…\S*lab$/);
    },
  );

  it('without a width, every cell whole', () => {
    const lines = tableLines(rows, new Set([2]));
    expect(lines[1]).toBe('audit-lab  https://127.0.0.1:8845   1234567  /home/someone/.audit-lab/audit-lab');
  });
});

describe('the width output is fitted to', () => {
  const stream = (isTTY: boolean, columns?: number) => ({
    write: () => true,
    isTTY,
    ...(columns !== undefined ? { columns } : {}),
  });
  it.each([
    ['a terminal', stream(true, 120), {}, 120],
    ['a terminal that reports no size, with COLUMNS', stream(true, 0), { COLUMNS: '100' }, 100],
    ['a terminal that reports no size', stream(true), {}, 80],
    ['a pipe, even with COLUMNS', stream(false), { COLUMNS: '100' }, undefined],
  ])('%s: %s', (_what, s, env, want) => {
    expect(terminalWidth(s, env)).toBe(want);
    expect(new Output(s, s, env).width).toBe(want);
  });
});
