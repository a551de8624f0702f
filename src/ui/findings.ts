import { escapeText } from './escape.js';
import type { Output } from './output.js';
import { wrapText } from './width.js';

/** A check's finding as printed (src/cluster/checks.ts makes them). */
export interface FindingLine {
  check: string;
  status: 'ok' | 'warn' | 'fail';
  message: string;
  fix?: string;
}

const MARK: Record<FindingLine['status'], string> = { ok: '✓', warn: '!', fail: '✗' };

export function printFindings(out: Output, findings: readonly FindingLine[], toStderr = false): void {
  const s = out.style;
  const colour = { ok: s.green, warn: s.yellow, fail: s.red };
  const width = Math.max(...findings.map((f) => f.check.length));
  const emit = (t: string) => (toStderr ? out.info(t) : out.line(t));
  const columns = toStderr ? out.errWidth : out.width;
  // A message, and its fix, wrap under their own first word.
  const wrap = (text: string, lead: number) => wrapText(escapeText(text), columns, { lead, indent: lead }).join('\n');
  const indent = width + 4;
  for (const f of findings) {
    // Messages quote tools' output (docker's stderr) and versions they print: escaped.
    emit(`${colour[f.status](MARK[f.status])} ${f.check.padEnd(width)}  ${wrap(f.message, indent)}`);
    if (f.fix && f.status !== 'ok') emit(`${' '.repeat(indent)}${s.dim('fix:')} ${wrap(f.fix, indent + 5)}`);
  }
}
