/**
 * `audit-lab policy test | suggest`: their flags and help, parsed into the options of policy.ts and
 * policySuggest.ts.
 */
import type { Command, OptionValues } from 'commander';
import { parseTarget } from '../audit/suggestTarget.js';
import {
  files,
  handler,
  labName,
  objectOutput,
  output,
  parsed,
  readFlags,
  type Setup,
  switchOn,
  text,
  withFlags,
} from './flags.js';

const policyTest = handler('policyTest', async () => (await import('./policy.js')).policyTest);
const policySuggest = handler('policySuggest', async () => (await import('./policySuggest.js')).policySuggest);

export function declarePolicy(parent: Command, setup: Setup): void {
  const policy = parent
    .command('policy')
    .description('work with audit policies')
    .addHelpText(
      'after',
      `
Examples:
  $ audit-lab policy test preset:recommended --sink default
  $ audit-lab policy suggest --sink full --target 50% > quiet.yaml`,
    );
  declareTest(policy, setup);
  declareSuggest(policy, setup);
}

/**
 * `policy test` without POLICY. Given after --file, POLICY became one more file (--file takes
 * every path up to the next flag), and "missing required argument" alone leaves the user looking
 * at the POLICY they typed.
 */
function missingPolicy(cmd: Command, files: readonly string[]): never {
  const last = files.at(-1);
  const why =
    last === undefined
      ? ''
      : `: --file takes one or more files, so ${JSON.stringify(last)} was read as a file; ` +
        'put POLICY before --file, or end the files with --';
  return cmd.error(`error: missing required argument 'POLICY'${why}`, {
    exitCode: 2,
    code: 'commander.missingArgument',
  });
}

function declareTest(policy: Command, setup: Setup): void {
  const flags = {
    files: files(),
    events: text('--events <file>', 'an audit log file (the older name of --file)'),
    sink: text('--sink <name>', 'use the events stored for this sink'),
    perEvent: switchOn('--per-event', 'the table: a row per event, fitted to the terminal, before the summary'),
    output: objectOutput(['table', 'json', 'jsonl', 'yaml', 'wide', 'name'], 'event'),
  };
  const cmd = policy
    .command('test')
    .description('which rule each event matches, and the resulting level')
    .argument('<POLICY>', 'an audit.k8s.io/v1 Policy file, or preset:NAME');
  // Commander's own step for a missing argument (a method it has but does not type), so that a
  // POLICY that --file took is told as such.
  Object.assign(cmd, { missingArgument: () => missingPolicy(cmd, flags.files.read(cmd.opts())) });
  withFlags(cmd, flags)
    .addHelpText(
      'after',
      `
Each line is read as the receiver reads what it is sent: an audit Event or EventList
(audit.k8s.io/v1 or v1beta1) as JSON. A line the receiver would refuse is not judged:
the others are, then every refused line is listed with its reason and the exit code is 2.
Several files are judged in time order. --file takes every path after it, up to the next
flag: give POLICY before it.
The table is the summary: events and bytes per level, captured and with the
policy. --per-event adds a row per event, -o wide every field of it; -o json,
jsonl, yaml and name give every verdict. Each is printed as its event is read.

Examples:
  $ audit-lab policy test policy.yaml --file audit.log
  $ audit-lab policy test policy.yaml --file audit.log --per-event | less
  $ audit-lab policy test policy.yaml --file /var/log/kubernetes/audit/audit*.log*
  $ audit-lab policy test preset:recommended --sink default -o json
  $ audit-lab policy test policy.yaml --file audit.log -o jsonl | jq -c '{auditID, rule, level}'`,
    )
    .action((policyFile: string, values: OptionValues) => {
      const name = labName(values);
      const { files, events, ...rest } = readFlags(flags, values);
      // --events, the older name of --file, is one more file.
      const all = [...(events !== undefined ? [events] : []), ...files];
      return setup.run(policyTest, { name, policy: policyFile, files: all, ...rest });
    });
}

function declareSuggest(policy: Command, setup: Setup): void {
  const flags = {
    sink: text(
      '--sink <name>',
      'learn from the events stored for this sink (capture at RequestResponse to measure bodies)',
    ),
    files: files(),
    from: text('--from <policy>', 'the policy to start from: a file, or preset:NAME', 'preset:recommended'),
    target: parsed(
      '--target <share>',
      'add rules until the bytes written are at most this share of what --from writes, e.g. 50%',
      parseTarget,
    ),
    output: output(
      ['yaml', 'json'],
      'yaml (the policy, with comments) or json (the policy, its text and every figure)',
      'yaml',
      { shownAsDefault: true },
    ),
  };
  const cmd = policy
    .command('suggest')
    .description(
      'a policy that drops or lowers the heaviest read-only traffic of captured events, ' +
        'never writes, secrets, 401/403 or exec',
    );
  withFlags(cmd, flags)
    .addHelpText(
      'after',
      `
The rules go in front of the --from policy's, each with a comment saying what it drops
and how many bytes; the totals before and after, as \`policy test\` counts them, end the file.
A target that cannot be met without touching protected events is said on stderr; the
best policy is printed anyway, and the exit code is 0.

Examples:
  $ audit-lab policy suggest --sink full --target 50% > quiet.yaml
  $ audit-lab policy test quiet.yaml --sink full
  $ audit-lab sink create quiet --policy quiet.yaml
  $ audit-lab policy suggest --file /var/log/kubernetes/audit.log --from preset:request-response -o json | jq .after`,
    )
    .action((values: OptionValues) => setup.run(policySuggest, { name: labName(values), ...readFlags(flags, values) }));
}
