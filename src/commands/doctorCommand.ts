/** `audit-lab doctor`: its flags and help, parsed into DoctorOptions for doctor.ts. */
import type { Command, OptionValues } from 'commander';
import { handler, labName, objectOutput, readFlags, type Setup, withFlags } from './flags.js';

const doctor = handler('doctor', async () => (await import('./doctor.js')).doctor);

export function declareDoctor(parent: Command, setup: Setup): void {
  const flags = { output: objectOutput(['json', 'yaml', 'wide', 'name'], 'check') };
  const cmd = parent.command('doctor').description('check docker, kind, kubectl, versions, cgroup version and ports');
  withFlags(cmd, flags)
    .addHelpText(
      'after',
      `
Examples:
  $ audit-lab doctor
  $ audit-lab doctor -o wide             # one row per check, with its fix
  $ audit-lab doctor -o json | jq '.checks[] | select(.status != "ok")'`,
    )
    .action((values: OptionValues) => setup.run(doctor, { name: labName(values), ...readFlags(flags, values) }));
}
