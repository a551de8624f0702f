/** `audit-lab tail`: its flags and help, parsed into TailOptions for tail.ts. */
import { type Command, InvalidArgumentError, Option, type OptionValues } from 'commander';
import {
  eventFilters,
  files,
  follow,
  handler,
  labName,
  output,
  parsedOption,
  readFlags,
  type Setup,
  since,
  sinksFilter,
  switchOn,
  withFlags,
} from './flags.js';

const tail = handler('tail', async () => (await import('./tail.js')).tail);

/** --tail: a count of events, or -1 for all of them (as kubectl logs --tail). */
function tailCount(value: string): number {
  if (!/^(-1|\d+)$/.test(value.trim())) {
    throw new InvalidArgumentError('--tail takes a number of events: 0 or more, or -1 for all.');
  }
  return Number(value.trim());
}

export function declareTail(parent: Command, setup: Setup): void {
  const flags = {
    sinks: sinksFilter(),
    files: files(),
    follow: follow('keep showing new events as they come (the default)', 'print what is stored and exit'),
    tail: parsedOption(
      new Option('--tail <n>', 'show only the last N stored events (after the filters; 0: none, -1: all)').default(-1),
      tailCount,
      -1,
    ),
    since: since(),
    output: output(
      ['pretty', 'wide', 'json', 'jsonl'],
      'pretty (columns fitted to the terminal), wide (every column, nothing cut), ' +
        'json (with --no-follow one EventList; following, one document per event) ' +
        'or jsonl (the stored lines, byte for byte)',
      'pretty',
      { shownAsDefault: true },
    ),
    utc: switchOn(
      '--utc',
      'show times in UTC (default: local time, as stern does; json and jsonl keep the stored times)',
    ),
    ...eventFilters(),
  };
  withFlags(parent.command('tail').description('show audit events, following by default (as kubectl logs -f)'), flags)
    .addHelpText(
      'after',
      `
Examples:
  $ audit-lab tail
  $ audit-lab tail --tail 20 --resource deploy --verb delete
  $ audit-lab tail --sink default --sink secrets --stage responsecomplete --no-follow -o wide   # flags repeat; any case
  $ audit-lab tail --no-follow -o json | jq '.items | length'
  $ audit-lab tail --no-follow -o jsonl | jq .verb
  $ audit-lab tail --file /var/log/kubernetes/audit/audit*.log* --no-follow --user system:kube-scheduler
  $ audit-lab tail --file audit.log                                 # follows it, through rotation, as tail -F
  $ ssh node1 cat /var/log/kube-audit.log.gz | audit-lab tail --file - --no-follow   # gzip or not

--file takes every path after it, up to the next flag. A line that is not an audit event is
listed at the end with its file and line number, and makes the exit code 2.`,
    )
    .action((values: OptionValues) => setup.run(tail, { name: labName(values), ...readFlags(flags, values) }));
}
