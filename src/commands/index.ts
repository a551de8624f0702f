/**
 * The production handlers: each loads its command module only when that command runs, so
 * `--version` and `--help` never load yaml, execa, the PKI or the server.
 */
import type { IO } from '../io.js';
import { makeContext } from './context.js';
import type { Handlers } from './options.js';

export function commandHandlers(io: IO): Handlers {
  const ctx = makeContext(io);
  return {
    render: async (o) => (await import('./render.js')).render(o, ctx),
    up: async (o) => (await import('./up.js')).up(o, ctx),
    down: async (o) => (await import('./down.js')).down(o, ctx),
    status: async (o) => (await import('./status.js')).status(o, ctx),
    doctor: async (o) => (await import('./doctor.js')).doctor(o, ctx),
    sinkCreate: async (o) => (await import('./sink.js')).sinkCreate(o, ctx),
    sinkList: async (o) => (await import('./sink.js')).sinkList(o, ctx),
    sinkDelete: async (o) => (await import('./sink.js')).sinkDelete(o, ctx),
    tail: async (o) => (await import('./tail.js')).tail(o, ctx),
    serve: async (o) => (await import('./serve.js')).serve(o, ctx),
    policyTest: async (o) => (await import('./policy.js')).policyTest(o, ctx),
    policySuggest: async (o) => (await import('./policySuggest.js')).policySuggest(o, ctx),
    list: async (o) => (await import('./list.js')).list(o, ctx),
    completion: async (o) => (await import('./completion.js')).completion(o, ctx),
    top: async (o) => (await import('./top.js')).top(o, ctx),
    version: async (o) => (await import('./version.js')).version(o, ctx),
  };
}
