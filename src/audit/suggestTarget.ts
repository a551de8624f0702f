/**
 * `policy suggest --target 50%`: the share of today's bytes the suggested policy should write at
 * most. Kept apart from suggest.ts so that parsing the flag loads nothing else.
 */
import { UserError } from '../errors.js';

/** "50%" as 0.5; a percentage above 0 and at most 100, fractions allowed ("12.5%"). */
export function parseTarget(value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*%\s*$/.exec(value);
  const pct = m ? Number(m[1]) : NaN;
  if (!(pct > 0 && pct <= 100)) {
    throw new UserError(
      `--target ${JSON.stringify(value)} is not a share of the bytes: give a percentage above 0 and at most 100`,
      'e.g. --target 50% for at most half of the bytes the base policy writes',
    );
  }
  return pct / 100;
}
