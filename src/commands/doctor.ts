/** `audit-lab doctor`: the checks of src/cluster/checks.ts (those `up` runs first), printed or `-o json|yaml|wide|name`. */
import { doctorReport } from '../cluster/doctor.js';
import { receiverControl } from '../daemon/control.js';
import { printFindings } from '../ui/findings.js';
import { printObjects, printTable } from '../ui/printers.js';
import { type Common, type Context, pathsFor, type Printed } from './context.js';
import { toolsFor } from './tools.js';

// --- options: what doctorCommand.ts parses the flags into ---
export interface DoctorOptions extends Common, Printed {}
// --- end options ---

export async function doctor(o: DoctorOptions, ctx: Context): Promise<number> {
  const paths = pathsFor(ctx, o.name);
  const report = await doctorReport(paths, toolsFor(ctx), await receiverControl(ctx.io.env), ctx.io.env);
  const { state } = report;
  const fails = report.findings.filter((f) => f.status === 'fail').length;
  printObjects(ctx.out, o.output, report.findings, {
    document: {
      ok: report.ok,
      lab: { name: o.name, dir: paths.dir, exists: state !== null, mode: state?.mode ?? null },
      checks: report.findings,
      docker: report.facts.docker,
      kind: { version: report.facts.kindVersion },
      kubectl: { version: report.facts.kubectlVersion },
    },
    name: (f) => `check/${f.check}`,
    table: (wide) => {
      if (wide)
        printTable(ctx.out, [
          ['CHECK', 'STATUS', 'MESSAGE', 'FIX'],
          ...report.findings.map((f) => [f.check, f.status, f.message, f.fix ?? '-']),
        ]);
      else printFindings(ctx.out, report.findings);
      ctx.out.line();
      ctx.out.line(
        fails > 0
          ? `${fails} problem${fails === 1 ? '' : 's'} to fix before \`audit-lab up\` (see ${wide ? 'FIX' : 'fix:'} above).`
          : 'ready: run `audit-lab up`.',
      );
    },
  });
  return report.ok ? 0 : 1;
}
