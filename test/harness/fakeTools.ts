/**
 * The fake tools server: one per test worker, on loopback, answering the fake kind, kubectl and
 * docker (test/lifecycle/fakes/fake.sh) from their tables with fake.mjs's own `answer`. A fake
 * call is then a bash process and a loopback connection, not a node start-up: the lifecycle
 * tests make hundreds of them.
 */
import { createServer, type Server } from 'node:net';
import { answer } from '../lifecycle/fakes/fake.mjs';

let started: Promise<number> | undefined;

/** The server's port (FAKE_TOOLS_SERVER), started on first use; it never keeps the worker alive. */
export function fakeToolsPort(): Promise<number> {
  started ??= new Promise((resolve, reject) => {
    const server: Server = createServer({ allowHalfOpen: false }, (socket) => {
      const chunks: Buffer[] = [];
      let answered = false;
      socket.on('error', () => {});
      socket.on('data', (chunk) => {
        chunks.push(chunk);
        const request = parseRequest(Buffer.concat(chunks));
        if (request === null || answered) return;
        answered = true;
        void reply(request).then((text) => socket.end(text));
      });
    });
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.unref();
      resolve((server.address() as { port: number }).port);
    });
  });
  return started;
}

interface FakeRequest {
  tool: string;
  argv: string[];
  stdin: string;
  env: NodeJS.ProcessEnv;
}

/** tool, table, world, log, argc, the arguments and stdin, each ended by a NUL; null until all are in. */
function parseRequest(bytes: Buffer): FakeRequest | null {
  const fields: string[] = [];
  let from = 0;
  for (let at = bytes.indexOf(0, from); at !== -1; at = bytes.indexOf(0, from)) {
    fields.push(bytes.subarray(from, at).toString('utf8'));
    from = at + 1;
  }
  if (fields.length < 5) return null;
  const argc = Number(fields[4]);
  if (fields.length < 5 + argc + 1) return null;
  const [tool, table, world, log] = fields as [string, string, string, string];
  const env = { FAKE_TOOLS_TABLE: table, FAKE_TOOLS_WORLD: world || undefined, FAKE_TOOLS_LOG: log || undefined };
  return { tool, argv: fields.slice(5, 5 + argc), stdin: fields[5 + argc]!, env };
}

/** Text as a bash $'...' word: printable ASCII as it is, every other byte as \xHH. */
function bashWord(text: string): string {
  let out = "$'";
  for (const b of Buffer.from(text, 'utf8')) {
    const plain = b >= 0x20 && b < 0x7f && b !== 0x27 && b !== 0x5c;
    out += plain ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return `${out}'`;
}

/** The bash snippet fake.sh runs: the answer's stdout and stderr printed, its exit code. */
async function reply(r: FakeRequest): Promise<string> {
  try {
    const out = await answer(r.tool, r.argv, r.stdin, r.env);
    const print = (text: string, to: string) => (text === '' ? '' : `printf '%s' ${bashWord(text)}${to}\n`);
    return `${print(out.stdout, '')}${print(out.stderr, ' >&2')}exit ${out.code}\n`;
  } catch (err) {
    return `printf '%s\\n' ${bashWord(`fake ${r.tool}: ${String(err)}`)} >&2\nexit 98\n`;
  }
}
