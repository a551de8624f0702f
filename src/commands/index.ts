/**
 * The production handlers: each loads its command module only when that command runs, so
 * `--version` and `--help` never load yaml, execa, the PKI, the server or string-width.
 */
import type { IO } from '../io.js';
import type { Context } from './context.js';
import type { Handlers } from './options.js';

export function commandHandlers(io: IO): Handlers {
  // The context too is made when a command runs: its printer measures text (string-width).
  let made: Promise<Context> | undefined;
  const context = () => (made ??= import('./context.js').then((m) => m.makeContext(io)));
  return {
    render: async (o) => (await import('./render.js')).render(o, await context()),
    up: async (o) => (await import('./up.js')).up(o, await context()),
    down: async (o) => (await import('./down.js')).down(o, await context()),
    status: async (o) => (await import('./status.js')).status(o, await context()),
    doctor: async (o) => (await import('./doctor.js')).doctor(o, await context()),
    sinkCreate: async (o) => (await import('./sink.js')).sinkCreate(o, await context()),
    sinkList: async (o) => (await import('./sink.js')).sinkList(o, await context()),
    sinkDelete: async (o) => (await import('./sink.js')).sinkDelete(o, await context()),
    tail: async (o) => (await import('./tail.js')).tail(o, await context()),
    serve: async (o) => (await import('./serve.js')).serve(o, await context()),
    policyTest: async (o) => (await import('./policy.js')).policyTest(o, await context()),
    policySuggest: async (o) => (await import('./policySuggest.js')).policySuggest(o, await context()),
    list: async (o) => (await import('./list.js')).list(o, await context()),
    completion: async (o) => (await import('./completion.js')).completion(o, await context()),
    top: async (o) => (await import('./top.js')).top(o, await context()),
    version: async (o) => (await import('./version.js')).version(o, await context()),
  };
}
