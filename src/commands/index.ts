/**
 * The production handlers: each loads its command module only when that command runs, so
 * `--version` and `--help` never load yaml, execa, the PKI or the server.
 */
import { NotBuiltYet } from '../errors.js';
import type { IO } from '../io.js';
import { makeContext } from './context.js';
import type { Handlers } from './options.js';

const ISSUE_RECEIVER = 'issue #3: receiver and tail';
const ISSUE_LIFECYCLE = 'issue #4: cluster lifecycle';
const ISSUE_SINKS = 'issue #5: sinks';
const ISSUE_POLICY = 'issue #7: policy engine';
const SEE_RENDER = 'meanwhile, `audit-lab render` shows every file it will use';

export function commandHandlers(io: IO): Handlers {
  const ctx = makeContext(io);
  const notYet = (command: string, issue: string, hint = SEE_RENDER) => async () => {
    throw new NotBuiltYet(command, issue, hint);
  };
  return {
    render: async (o) => (await import('./render.js')).render(o, ctx),
    up: notYet('up', ISSUE_LIFECYCLE),
    down: notYet('down', ISSUE_LIFECYCLE),
    status: notYet('status', ISSUE_LIFECYCLE),
    doctor: notYet('doctor', ISSUE_LIFECYCLE),
    sinkCreate: notYet('sink create', ISSUE_SINKS),
    sinkList: notYet('sink list', ISSUE_SINKS),
    sinkDelete: notYet('sink delete', ISSUE_SINKS),
    tail: async (o) => (await import('./tail.js')).tail(o, ctx),
    serve: async (o) => (await import('./serve.js')).serve(o, ctx),
    policyTest: async (o) => (await import('./policy.js')).policyTest(o, ctx),
  };
}
