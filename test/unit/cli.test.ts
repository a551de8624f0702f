import { describe, expect, it } from 'vitest';
import { buildProgram, type Handlers } from '../../src/cli.js';
import { RuntimeFailure, ToolError } from '../../src/errors.js';
import { run } from '../../src/main.js';
import { captureIO, failWith } from '../harness/cli.js';

type Call = { handler: keyof Handlers; options: Record<string, unknown> };

/** Handlers that record what they were given, so the table checks parsing alone. */
function recorder(calls: Call[]): Handlers {
  const h = {} as Record<keyof Handlers, Handlers[keyof Handlers]>;
  for (const k of [
    'render',
    'up',
    'down',
    'sinkCreate',
    'sinkList',
    'sinkDelete',
    'tail',
    'ui',
    'serve',
    'status',
    'doctor',
    'policyTest',
    'policySuggest',
    'list',
    'completion',
    'top',
    'version',
  ] as const) {
    h[k] = async (o: object) => {
      calls.push({ handler: k, options: { ...o } as Record<string, unknown> });
    };
  }
  return h as Handlers;
}

async function parse(argv: string[]) {
  const calls: Call[] = [];
  const c = captureIO();
  const code = await run(argv, c.io, recorder(calls));
  return { code, calls, stderr: c.stderr(), stdout: c.stdout() };
}

describe('argv -> options', () => {
  it.each<[string[], keyof Handlers, Record<string, unknown>]>([
    [
      ['up'],
      'up',
      {
        name: 'audit-lab',
        mode: undefined,
        sink: true,
        dryRun: false,
        recreate: false,
        capture: undefined,
        kindConfigApi: undefined,
        batchMaxWait: undefined,
      },
    ],
    [['up', '--capture', 'sinks', '--mode', 'auto'], 'up', { capture: 'sinks', mode: 'auto' }],
    [
      [
        'up',
        '--image',
        'kindest/node:v1.18.19',
        '--mode',
        'dynamic',
        '--no-sink',
        '--dry-run',
        '--name',
        'lab2',
        '--port',
        '9443',
      ],
      'up',
      { name: 'lab2', image: 'kindest/node:v1.18.19', mode: 'dynamic', sink: false, dryRun: true, port: 9443 },
    ],
    [['up', '--capture', 'full', '--recreate', '--verbose'], 'up', { capture: 'full', recreate: true, verbose: true }],
    [['down'], 'down', { name: 'audit-lab', purge: false }],
    [['down', '--purge'], 'down', { purge: true }],
    [['sink', 'list', '--json'], 'sinkList', { name: 'audit-lab', output: 'json' }],
    [['sink', 'list', '-o', 'JSONL'], 'sinkList', { output: 'jsonl' }],
    [['sink', 'delete', 'mysink'], 'sinkDelete', { sinkName: 'mysink' }],
    [['tail'], 'tail', { follow: true, output: 'pretty', verb: [], sinks: [], tail: -1, utc: false }],
    [
      [
        'tail',
        '--no-follow',
        '--sink',
        's1',
        '-o',
        'jsonl',
        '--verb',
        'get',
        '--verb',
        'list',
        '--code',
        '4xx',
        '--since',
        '10m',
      ],
      'tail',
      { follow: false, sinks: ['s1'], output: 'jsonl', verb: ['get', 'list'], code: ['4xx'], since: '10m' },
    ],
    [
      ['tail', '-f', '--sink', 'a', '--sink', 'b,c', '--tail', '5', '--utc'],
      'tail',
      { follow: true, sinks: ['a', 'b', 'c'], tail: 5, utc: true },
    ],
    [['tail', '--tail', '-1'], 'tail', { tail: -1 }],
    // Repeatable flags accumulate, in the order given.
    [
      [
        'tail',
        '--sink',
        'a',
        '--sink',
        'b',
        '--verb',
        'get',
        '--verb',
        'list',
        '--user',
        'u1',
        '--user',
        'u2',
        '--namespace',
        'n1',
        '--namespace',
        'n2',
        '--resource',
        'pods',
        '--resource',
        'apps/deployments',
        '--stage',
        'Panic',
        '--stage',
        'RequestReceived',
        '--code',
        '403',
        '--code',
        '5xx',
      ],
      'tail',
      {
        sinks: ['a', 'b'],
        verb: ['get', 'list'],
        user: ['u1', 'u2'],
        namespace: ['n1', 'n2'],
        resource: ['pods', 'apps/deployments'],
        stage: ['Panic', 'RequestReceived'],
        code: ['403', '5xx'],
      },
    ],
    // Enum values: any case in, the canonical spelling out.
    [
      ['tail', '--stage', 'responsecomplete', '--stage', 'REQUESTRECEIVED', '-o', 'JSONL'],
      'tail',
      { stage: ['ResponseComplete', 'RequestReceived'], output: 'jsonl' },
    ],
    [
      ['up', '--mode', 'STATIC', '--capture', 'Full', '--kind-config-api', 'V1ALPHA3'],
      'up',
      { mode: 'static', capture: 'full', kindConfigApi: 'v1alpha3' },
    ],
    [
      ['render', '--mode', 'Dynamic', '--host-cgroup', 'V1', '--capture', 'SINKS', '--kind-config-api', 'v1Alpha4'],
      'render',
      { mode: 'dynamic', hostCgroup: 1, capture: 'sinks', kindConfigApi: 'v1alpha4' },
    ],
    [
      ['policy', 'test', 'p.yaml', '--sink', 'default', '-o', 'JSON'],
      'policyTest',
      { output: 'json', sink: 'default' },
    ],
    [['completion', 'BASH'], 'completion', { shell: 'bash' }],
    // Global flags anywhere: before the command, after it, between a command and its subcommand.
    [['--name', 'lab2', 'status'], 'status', { name: 'lab2', output: 'table' }],
    [['status', '--name', 'lab2', '--json'], 'status', { name: 'lab2', output: 'json' }],
    [['--name=lab2', 'tail', '--sink', 'a'], 'tail', { name: 'lab2', sinks: ['a'] }],
    [['sink', '--name', 'lab2', 'delete', 'full'], 'sinkDelete', { name: 'lab2', sinkName: 'full' }],
    [
      ['sink', 'create', 'f', '--url', 'http://127.0.0.1:9765/k8s-audit'],
      'sinkCreate',
      { sink: { name: 'f', url: 'http://127.0.0.1:9765/k8s-audit' } },
    ],
    [
      ['sink', 'create', 'f', '--url', 'http://127.1:9765/in'],
      'sinkCreate',
      { sink: { name: 'f', url: 'http://127.1:9765/in' } },
    ],
    [
      ['sink', 'create', 'f', '--url', 'http://[::1]:9765/in'],
      'sinkCreate',
      { sink: { name: 'f', url: 'http://[::1]:9765/in' } },
    ],
    [
      ['sink', 'create', 'f', '--url', 'http://localhost:9765/in'],
      'sinkCreate',
      { sink: { name: 'f', url: 'http://localhost:9765/in' } },
    ],
    [
      ['sink', 'create', 'f', '--url', 'http://audit.example.com/in', '--insecure-http'],
      'sinkCreate',
      { sink: { name: 'f', url: 'http://audit.example.com/in' } },
    ],
    [
      ['--name', 'lab2', 'sink', 'create', 'full', '--level', 'request'],
      'sinkCreate',
      { name: 'lab2', sink: { name: 'full', level: 'Request' } },
    ],
    [
      ['--name', 'lab2', 'policy', 'test', 'preset:metadata', '--sink', 'default'],
      'policyTest',
      { name: 'lab2', policy: 'preset:metadata' },
    ],
    [['--name', 'lab2', 'up', '--dry-run', '--dry-run'], 'up', { name: 'lab2', dryRun: true }],
    [['serve', '--address', '127.0.0.1', '--port', '8845'], 'serve', { address: '127.0.0.1', port: 8845 }],
    [['serve', '--port', '0'], 'serve', { port: 0 }],
    [
      ['serve', '--max-stream-size', '0.5', '--max-stream-files', '2'],
      'serve',
      { maxStreamBytes: 524288, maxStreamFiles: 2 },
    ],
    [['serve', '--skip-fsync-for-benchmark'], 'serve', { skipFsync: true }],
    [['status', '--json'], 'status', { output: 'json' }],
    [['status', '-o', 'wide'], 'status', { output: 'wide' }],
    [['doctor'], 'doctor', { output: 'table' }],
    [['doctor', '--json', '-o', 'json'], 'doctor', { output: 'json' }],
    [['list'], 'list', { output: 'table' }],
    [['list', '-o', 'name'], 'list', { output: 'name' }],
    [['version', '--json'], 'version', { output: 'json' }],
    [['version'], 'version', { output: 'table' }],
    [['render', '--mode', 'static', '--out', 'files'], 'render', { mode: 'static', out: 'files', sink: undefined }],
    [['render'], 'render', { mode: undefined, image: undefined }],
    [
      ['policy', 'test', 'p.yaml', '--events', 'e.log', '-o', 'json'],
      'policyTest',
      { policy: 'p.yaml', files: ['e.log'], output: 'json' },
    ],
    // --file takes every path up to the next flag (a shell glob), and repeats; --events is one more.
    [
      ['policy', 'test', 'p.yaml', '--file', 'a.log', 'b.log.gz', '--events', 'e.log', '--file', '-'],
      'policyTest',
      { policy: 'p.yaml', files: ['e.log', 'a.log', 'b.log.gz', '-'] },
    ],
    [
      ['tail', '--file', 'audit.log', 'audit-1.log.gz', '--no-follow', '--file', '-', '--tail', '3'],
      'tail',
      { files: ['audit.log', 'audit-1.log.gz', '-'], follow: false, tail: 3, sinks: [] },
    ],
    [['tail', '--sink', 'a'], 'tail', { files: [], sinks: ['a'] }],
    [
      ['policy', 'suggest', '--sink', 'full', '--target', '50%'],
      'policySuggest',
      { name: 'audit-lab', sink: 'full', files: [], from: 'preset:recommended', target: 0.5, output: 'yaml' },
    ],
    [
      ['policy', 'suggest', '--file', 'a.log', '--file', '-', '--from', 'p.yaml', '--target', '12.5 %', '-o', 'JSON'],
      'policySuggest',
      { files: ['a.log', '-'], from: 'p.yaml', target: 0.125, output: 'json' },
    ],
    // ui: a browser unless --no-open; --port exact; --file as tail's.
    [['ui'], 'ui', { name: 'audit-lab', open: true, files: [] }],
    [
      ['ui', '--no-open', '--port', '8901', '--file', 'a.log', 'b.log'],
      'ui',
      { open: false, port: 8901, files: ['a.log', 'b.log'] },
    ],
    // top: the filters are tail's; --by takes commas, repeats and any case.
    [
      ['top'],
      'top',
      {
        name: 'audit-lab',
        by: ['user', 'verb', 'resource'],
        follow: true,
        output: 'table',
        sinks: [],
        files: [],
        verb: [],
        code: [],
        window: undefined,
        limit: undefined,
      },
    ],
    [
      ['top', '--by', 'Verb,code', '--by', 'user', '--window', '5m', '--no-follow', '-o', 'JSONL', '--limit', '10'],
      'top',
      { by: ['verb', 'code', 'user'], window: '5m', follow: false, output: 'jsonl', limit: 10 },
    ],
    [['top', '--by', 'sink', '--by', 'sink'], 'top', { by: ['sink'] }],
    [
      [
        'top',
        '--file',
        'a.log',
        '--file',
        '-',
        '--verb',
        'get',
        '--user',
        'u',
        '--namespace',
        'n',
        '--resource',
        'pods',
        '--stage',
        'panic',
        '--code',
        '5xx',
        '--since',
        '1h',
      ],
      'top',
      {
        files: ['a.log', '-'],
        verb: ['get'],
        user: ['u'],
        namespace: ['n'],
        resource: ['pods'],
        stage: ['Panic'],
        code: ['5xx'],
        since: '1h',
      },
    ],
    [['top', '--sink', 'a,b', '--sink', 'c', '-f'], 'top', { sinks: ['a', 'b', 'c'], follow: true }],
    [['top', '--file', 'a.log', 'b.log.gz', '--by', 'user'], 'top', { files: ['a.log', 'b.log.gz'], by: ['user'] }],
    [
      ['policy', 'suggest', '--file', 'a.log', 'b.log', '--target', '50%'],
      'policySuggest',
      { files: ['a.log', 'b.log'], target: 0.5 },
    ],
  ])('%j', async (argv, handler, expected) => {
    const { code, calls, stderr } = await parse(argv);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.handler).toBe(handler);
    expect(calls[0]!.options).toMatchObject(expected);
  });

  it('normalizes sink flags: repeated and comma-separated stages, only the fields given (the merge adds the defaults)', async () => {
    const { calls } = await parse([
      'sink',
      'create',
      'full',
      '--level',
      'RequestResponse',
      '--stage',
      'RequestReceived,ResponseComplete',
      '--stage',
      'Panic',
      '--qps',
      '2',
    ]);
    expect(calls[0]!.options).toMatchObject({ dryRun: false });
    expect(calls[0]!.options.sink).toEqual({
      name: 'full',
      level: 'RequestResponse',
      stages: ['RequestReceived', 'ResponseComplete', 'Panic'],
      qps: 2,
    });
    const anyCase = await parse([
      'sink',
      'create',
      'full',
      '--level',
      'requestresponse',
      '--stage',
      'responsecomplete,REQUESTRECEIVED',
      '--stage',
      'panic',
    ]);
    expect(anyCase.stderr).toBe('');
    expect(anyCase.calls[0]!.options.sink).toMatchObject({
      level: 'RequestResponse',
      stages: ['ResponseComplete', 'RequestReceived', 'Panic'],
    });
    const bare = await parse(['sink', 'create']);
    expect(bare.calls[0]!.options.sink).toEqual({ name: 'default' });
  });

  it('turns render sink flags into a sink override', async () => {
    // The change as `sink create` gets it: the sink's name and only the fields given.
    const { calls } = await parse(['render', '--sink', 'rr', '--level', 'Request', '--stage', 'ResponseStarted']);
    expect(calls[0]!.options.sink).toEqual({ name: 'rr', level: 'Request', stages: ['ResponseStarted'] });
    const anyCase = await parse([
      'render',
      '--sink',
      'rr',
      '--level',
      'none',
      '--stage',
      'panic',
      '--stage',
      'RESPONSESTARTED',
    ]);
    expect(anyCase.calls[0]!.options.sink).toEqual({ name: 'rr', level: 'None', stages: ['Panic', 'ResponseStarted'] });
    const qps = await parse(['render', '--sink', 'rr', '--qps', '5']);
    expect(qps.calls[0]!.options.sink).toEqual({ name: 'rr', qps: 5 });
  });
});

type Cmd = ReturnType<typeof buildProgram>;
/** The commands that run something (no subcommands), each with its path. */
const leaves = (cmd: Cmd, path: string[]): [string[], Cmd][] =>
  cmd.commands.length === 0 ? [[path, cmd]] : cmd.commands.flatMap((c) => leaves(c, [...path, c.name()]));
/** Its required arguments: a choice of theirs, or any word. */
const requiredArgs = (cmd: Cmd) =>
  cmd.registeredArguments.filter((a) => a.required).map((a) => a.argChoices?.[0] ?? 'x');

describe('every command reaches its own handler', () => {
  // Each command's declaration names its handler; this is the whole table, so a command added
  // without a handler, or with another command's, fails here.
  const handlerOf: Record<string, keyof Handlers> = {
    up: 'up',
    down: 'down',
    'sink create': 'sinkCreate',
    'sink list': 'sinkList',
    'sink delete': 'sinkDelete',
    tail: 'tail',
    top: 'top',
    ui: 'ui',
    serve: 'serve',
    status: 'status',
    doctor: 'doctor',
    list: 'list',
    render: 'render',
    'policy test': 'policyTest',
    'policy suggest': 'policySuggest',
    version: 'version',
    completion: 'completion',
  };
  const program = buildProgram(captureIO().io, recorder([]), '0.0.0', () => {});
  // `help` prints the help of another command: it has no handler.
  const commands = leaves(program, []).filter(([path]) => path.join(' ') !== 'help');

  it('knows every command the program declares', () => {
    expect(commands.map(([path]) => path.join(' ')).sort()).toEqual(Object.keys(handlerOf).sort());
  });

  it.each(commands.map(([path, cmd]) => [path.join(' '), [...path, ...requiredArgs(cmd)]] as const))(
    '%s',
    async (command, argv) => {
      const { code, calls, stderr } = await parse([...argv]);
      expect(stderr).toBe('');
      expect(code).toBe(0);
      expect(calls.map((c) => c.handler)).toEqual([handlerOf[command]]);
    },
  );

  it('a handler no test put in place is a bug, not a silent success', async () => {
    const c = captureIO();
    const code = await run(['status'], c.io, { list: async () => 0 });
    expect(code).toBe(1);
    expect(c.stderr()).toMatch(/this is a bug[^]*no handler "status"/);
  });
});

describe('one rule for every enum flag', () => {
  const program = buildProgram(captureIO().io, recorder([]), '0.0.0', () => {});
  const cases = leaves(program, []).flatMap(([path, cmd]) => {
    const args = requiredArgs(cmd);
    return cmd.options
      .filter((o) => o.argChoices !== undefined)
      .map((o) => [[...path, ...args].join(' '), o.long!, o.argChoices!] as const);
  });

  it('covers the enum flags of every command', () => {
    expect(cases.map(([cmd, flag]) => `${cmd} ${flag}`)).toEqual(
      expect.arrayContaining([
        'up --mode',
        'up --capture',
        'up --kind-config-api',
        'render --host-cgroup',
        'tail --output',
        'tail --stage',
        'policy test x --output',
      ]),
    );
  });

  it.each(cases)('%s %s takes any case and gives the canonical value', async (command, flag, choices) => {
    for (const value of choices) {
      for (const typed of [value.toUpperCase(), value.toLowerCase()]) {
        const { code, calls, stderr } = await parse([...command.split(' '), flag, typed]);
        expect(stderr, `${flag} ${typed}`).toBe('');
        expect(code).toBe(0);
        expect(JSON.stringify(calls[0]!.options), `${flag} ${typed}`).not.toContain(
          JSON.stringify(typed === value ? '\0' : typed),
        );
      }
    }
  });
});

describe('bad usage exits 2 and names the flag or field', () => {
  it.each<[string[], RegExp]>([
    [['sink', 'create', '--level', 'Everything'], /--level: Unsupported value: "Everything"/],
    [['sink', 'create', '--stage', 'Done'], /--stage: Invalid value: "Done": allowed stages are/],
    [
      ['sink', 'create', '--qps', '0'],
      /--qps: Invalid value: 0: qps must be a positive number \(spec\.webhook\.throttle\.qps\)/,
    ],
    [
      ['sink', 'create', '--qps', '2.5'],
      /--qps: Invalid value: 2.5: qps must be a whole number \(an int64\) \(spec\.webhook\.throttle\.qps\)/,
    ],
    [['sink', 'create', '--burst', 'many'], /--burst takes a number/],
    [['sink', 'create', 'My_Sink'], /NAME: Invalid value: "My_Sink": a lowercase RFC 1123 subdomain/],
    [['sink', 'create', '--url', 'https://u:p@example.com'], /--url: .*user information is not permitted/],
    // Plain http is for a collector on this machine: elsewhere the events go in clear text.
    [
      ['sink', 'create', '--url', 'http://audit.example.com/in'],
      /--url: plain http to audit\.example\.com would send every event in clear text[^]*add --insecure-http/,
    ],
    [['sink', 'create', '--url', 'http://128.0.0.1:9765/in'], /--url: plain http to 128\.0\.0\.1:9765/],
    [['sink', 'create', '--url', 'http://localhost.example.com/in'], /--url: plain http to localhost\.example\.com/],
    [['up', '--mode', 'sideways'], /--mode "sideways" is not one of auto, static, dynamic/],
    [['up', '--port', '70000'], /--port takes 1-65535/],
    [['up', '--port', '0'], /--port takes 1-65535/],
    [['serve', '--port', '-1'], /--port takes 0 \(any free port\) or 1-65535/],
    [['serve', '--max-stream-files', '0'], /--max-stream-files takes a whole number, 1 or more/],
    [['serve', '--max-stream-size', 'big'], /--max-stream-size takes a size in MiB/],
    [['up', '--name', '../etc'], /--name "..\/etc" is not a valid lab name/],
    [['tail', '-o', 'xml'], /--output "xml" is not one of pretty, wide, json, jsonl/],
    [['status', '-o', 'jsonl'], /--output "jsonl" is not one of json, yaml, wide, name/],
    [['list', '-o', 'xml'], /--output "xml" is not one of json, jsonl, yaml, wide, name/],
    [['sink', 'list', '--json', '-o', 'yaml'], /--json is -o json: give one of --json and -o yaml/],
    [['tail', '--tail', '-2'], /--tail takes a number of events/],
    [['render', '--level', 'Loud'], /--level: Unsupported value/],
    [['bogus'], /unknown command 'bogus'/],
    [['up', '--bogus'], /unknown option '--bogus'/],
    [['sink'], /Usage: audit-lab sink/],
    [['policy', 'test'], /missing required argument 'POLICY'/],
    [
      ['tail', '--stage', 'Done'],
      /--stage "Done" is not one of RequestReceived, ResponseStarted, ResponseComplete, Panic/,
    ],
    [
      ['top', '--by', 'nope'],
      /--by "nope" is not one of user, verb, resource, namespace, code, useragent, stage, sink/,
    ],
    [['top', '--limit', '0'], /--limit takes a whole number, 1 or more/],
    [['completion', 'powershell'], /SHELL "powershell" is not one of bash, zsh, fish/],
    // A flag that takes one value, given twice, is refused by name instead of the last one winning.
    [['up', '--name', 'a', '--name', 'b'], /option '--name <name>' was given more than once/],
    [['--name', 'a', 'status', '--name', 'b'], /option '--name <name>' was given more than once/],
    [['sink', 'create', '--level', 'Metadata', '--level', 'None'], /option '--level <level>' was given more than once/],
    [['serve', '--port', '1', '--port', '2'], /option '--port <port>' was given more than once/],
    [['up', '--mode', 'static', '--mode', 'STATIC'], /option '--mode <mode>' was given more than once/],
    [['tail', '-o', 'json', '--output', 'jsonl'], /option '-o, --output <format>' was given more than once/],
    [['tail', '--since', '1m', '--since', '2m'], /option '--since <when>' was given more than once/],
    [
      ['policy', 'test', 'p.yaml', '--events', 'a', '--events', 'b'],
      /option '--events <file>' was given more than once/,
    ],
    [['render', '--out', 'a', '--out', 'b'], /option '--out <dir>' was given more than once/],
    [['help', 'sink', 'nope'], /unknown command 'sink nope' \(commands: create, list, delete\)/],
  ])('%j', async (argv, message) => {
    const { code, calls, stderr } = await parse(argv);
    expect(calls).toEqual([]);
    expect(stderr).toMatch(message);
    expect(code).toBe(2);
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});

describe('help and version', () => {
  it('prints help with examples on stdout and exits 0', async () => {
    for (const argv of [
      [],
      ['--help'],
      ['up', '--help'],
      ['sink', 'create', '--help'],
      ['tail', '--help'],
      ['render', '--help'],
    ]) {
      const { code, stdout } = await parse(argv);
      expect(code, argv.join(' ')).toBe(0);
      expect(stdout, argv.join(' ')).toMatch(/Examples:\n\s+\$ audit-lab/);
    }
  });

  it('keeps the benchmark-only serve flag out of the help, and off unless given', async () => {
    expect((await parse(['serve', '--help'])).stdout).not.toContain('fsync');
    expect((await parse(['serve'])).calls[0]!.options).not.toHaveProperty('skipFsync');
  });

  it('prints the package version', async () => {
    const { code, stdout } = await parse(['--version']);
    expect(code).toBe(0);
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

describe('errors map to exit codes in one place', () => {
  it('a runtime failure exits 1 with its message and hint, no stack', async () => {
    const r = await failWith(new RuntimeFailure('the receiver did not start', 'see receiver.log'));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('error: the receiver did not start\nhint: see receiver.log\n');
  });

  it('a tool failure shows the command and its output', async () => {
    const r = await failWith(
      new ToolError('kind create cluster failed', ['kind', 'create', 'cluster'], 'ERROR: boom\nmore', 'run doctor'),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'error: kind create cluster failed\ncommand: kind create cluster\ncommand output:\n  ERROR: boom\n  more\nhint: run doctor\n',
    );
  });

  it('a runtime failure exits 1 without a stack; a system error names its path', async () => {
    expect((await failWith(new RuntimeFailure('port 8845 is in use'))).code).toBe(1);
    const sys = Object.assign(new Error("EACCES: permission denied, open '/x/state.json'"), {
      code: 'EACCES',
      syscall: 'open',
      path: '/x/state.json',
    });
    const r = await failWith(sys);
    expect(r).toEqual({ code: 1, stderr: "error: EACCES: permission denied, open '/x/state.json'\n" });
  });

  it('anything else is a bug: exit 1 with the stack', async () => {
    const r = await failWith(new TypeError('x is undefined'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/this is a bug/);
    expect(r.stderr).toMatch(/TypeError: x is undefined\n\s+at /);
  });
});
