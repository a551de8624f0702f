import { describe, expect, it } from 'vitest';
import { escapeText } from '../../src/ui/escape.js';

describe('escapeText', () => {
  it.each([
    ['\x1b[2J', '\\x1b[2J'],
    ['\x1b]0;pwned\x07', '\\x1b]0;pwned\\x07'],
    ['a\rb\nc\td', 'a\\x0db\\x0ac\\x09d'],
    ['del\x7f', 'del\\x7f'],
    ['c1\x9b31m', 'c1\\x9b31m'],
    ['admin\u202egnp.exe', 'admin\\u202egnp.exe'],
    ['\u2066iso\u2069 \u200e\u200f\u061c', '\\u2066iso\\u2069 \\u200e\\u200f\\u061c'],
    ['system:serviceaccount:kube-system:default', 'system:serviceaccount:kube-system:default'],
    ['naïve 日本語 µs', 'naïve 日本語 µs'],
  ])('%j -> %j', (input, want) => {
    expect(escapeText(input)).toBe(want);
  });

  it('leaves nothing a terminal would act on', () => {
    let all = '';
    for (let c = 0; c < 0x2100; c++) all += String.fromCharCode(c);
    const out = escapeText(all);
    expect(out).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
  });
});
