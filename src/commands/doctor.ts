/** `audit-lab doctor`: the checks of src/cluster/checks.ts (those `up` runs first), printed. */
import { doctorReport } from '../cluster/checks.js';
import { receiverControl } from '../daemon/control.js';
import { printFindings } from '../ui/findings.js';
import { type Context, pathsFor, toolsFor } from './context.js';
import type { DoctorOptions } from './options.js';

export async function doctor(o: DoctorOptions, ctx: Context): Promise<number> {
  const paths = pathsFor(ctx, o.name);
  const report = await doctorReport(paths, toolsFor(ctx), await receiverControl(ctx.io.env));
  if (o.json) {
    const { state } = report;
    ctx.out.data(
      `${JSON.stringify(
        {
          ok: report.ok,
          lab: { name: o.name, dir: paths.dir, exists: state !== null, mode: state?.mode ?? null },
          checks: report.findings,
          docker: report.facts.docker,
          kind: { version: report.facts.kindVersion },
          kubectl: { version: report.facts.kubectlVersion },
        },
        null,
        2,
      )}\n`,
    );
    return report.ok ? 0 : 1;
  }
  printFindings(ctx.out, report.findings);
  const fails = report.findings.filter((f) => f.status === 'fail').length;
  if (fails > 0) {
    ctx.out.line();
    ctx.out.line(`${fails} problem${fails === 1 ? '' : 's'} to fix before \`audit-lab up\` (see fix: above).`);
    return 1;
  }
  ctx.out.line();
  ctx.out.line('ready: run `audit-lab up`.');
  return 0;
}
