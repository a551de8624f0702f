/** `audit-lab top`: its flags and help, parsed into TopOptions for top.ts. */
import { type Command, Option, type OptionValues } from 'commander';
import { UserError } from '../errors.js';
import { DEFAULT_GROUP_KEYS, GROUP_KEYS, type GroupKey } from '../top/keys.js';
import {
  choice,
  commaList,
  countAtLeastOne,
  eventFilters,
  files,
  follow,
  handler,
  labName,
  output,
  parsed,
  parsedOption,
  readFlags,
  type Setup,
  since,
  sinksFilter,
  text,
  withFlags,
} from './flags.js';

const top = handler('top', async () => (await import('./top.js')).top);

/** --by: keys comma-separated or repeated, any case; none, or an unknown one, is a UserError naming them. */
function groupKeys(value: string, previous: GroupKey[] | undefined): GroupKey[] {
  const keys = commaList([value]).map(choice('--by', GROUP_KEYS));
  if (keys.length === 0) {
    throw new UserError(
      `--by ${JSON.stringify(value)} names no key`,
      `use one or more of ${GROUP_KEYS.join(', ')}, e.g. --by user,verb`,
    );
  }
  return [...new Set([...(previous ?? []), ...keys])];
}

export function declareTop(parent: Command, setup: Setup): void {
  const flags = {
    by: parsedOption(
      new Option(
        '--by <keys>',
        'group by these keys, comma-separated or repeated (default: user,verb,resource)',
      ).choices(GROUP_KEYS),
      groupKeys,
      [...DEFAULT_GROUP_KEYS],
    ),
    window: text(
      '--window <duration>',
      'rates over this much event time, up to the newest event ' +
        '(default: 1m live; with --no-follow, all that is stored)',
    ),
    follow: follow(
      'at a terminal, a live view of new events as they come (the default)',
      'one table of what is stored, and exit (always so off a terminal)',
    ),
    limit: parsed(
      '--limit <n>',
      "at most N groups, the busiest (default: all off a terminal, the screen's height on one)",
      countAtLeastOne('--limit'),
    ),
    output: output(
      ['table', 'json', 'jsonl'],
      'table, json (one document: groups, totals, window, skipped lines) or jsonl (one group per line)',
      'table',
      { shownAsDefault: true },
    ),
    files: files(),
    sinks: sinksFilter(),
    since: since(),
    ...eventFilters(),
  };
  const cmd = parent
    .command('top')
    .description(
      'the heaviest users, verbs and resources: events/s, share and bytes/s per group, live at a terminal (as top)',
    );
  withFlags(cmd, flags)
    .addHelpText(
      'after',
      `
Live keys: q or Ctrl-C quit, p or space pause, < > change the sort column, r rate,
e events, b bytes/s, l last seen, n name, R reverse the order.

Examples:
  $ audit-lab top                                        # live, by user, verb and resource
  $ audit-lab top --by user --window 5m                  # who, over the last five minutes
  $ audit-lab top --no-follow --by verb,resource --limit 10
  $ audit-lab top --by useragent --verb watch --verb list --no-follow
  $ audit-lab top --file audit.log --no-follow -o json | jq '.groups[0]'`,
    )
    .action((values: OptionValues) => setup.run(top, { name: labName(values), ...readFlags(flags, values) }));
}
