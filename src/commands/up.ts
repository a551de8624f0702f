/**
 * `audit-lab up`: checks, lab files, receiver, cluster, proof that the node reaches the receiver,
 * default sink. Idempotent: each step looks at what is there and does only what is missing, so a
 * second `up` on a healthy lab changes nothing and an `up` after a failure finishes the job.
 */
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { RuntimeFailure, ToolError, UserError } from '../errors.js';
import { deployedCapture, restartPending } from '../lab/deployed.js';
import { type CgroupVersion, dockerCgroup, localCgroup } from '../lab/host.js';
import { describeReissue, ensureLab } from '../lab/lab.js';
import { ensurePrivateDir, writeFileAtomic } from '../lab/fsutil.js';
import { withLabLock } from '../lab/lock.js';
import { pickReceiverPort } from '../lab/ports.js';
import { refuseLabSymlinks } from '../lab/safety.js';
import { DEFAULT_LAB_NAME, type LabPaths } from '../lab/paths.js';
import { type LabState, readState, writeState } from '../lab/state.js';
import { FALLBACK_NODE_HOST, HEALTH_PATH, receiverUrl } from '../lab/endpoints.js';
import { type LabPki, loadPki } from '../lab/pki.js';
import { createPki, defaultServerNames } from '../lab/pkiIssuer.js';
import { CGROUP_V1_NOTE, needsCgroupV1Patch } from '../render/kindConfig.js';
import { type RenderedFile, renderLabFiles } from '../render/labFiles.js';
import { captureFor, covers } from '../render/policyFile.js';
import {
  type ApiserverDeps,
  type ApiserverTiming,
  MANIFEST,
  manifestWired,
  recoverApiserverManifest,
  restartApiserver,
  timingFromEnv,
  waitForApiserver,
} from '../cluster/apiserver.js';
import { dockerArgs, KIND_NETWORK } from '../tools/docker.js';
import { makeTools, type Tools } from '../tools/index.js';
import { controlPlaneNode, kindArgs, kindProgressText, kubeContext } from '../tools/kind.js';
import { kubectlArgs, kubectlVerbs } from '../tools/kubectl.js';
import { type ReceiverControl, receiverControl, sameListener } from '../daemon/control.js';
import { commandLine, createRunner } from '../tools/run.js';
import { Output } from '../ui/output.js';
import { type Context, pathsFor } from './context.js';
import { checkPort, DYNAMIC_KIND_VERSION, printFindings, runChecks } from './doctor.js';
import type { RenderOptions, UpOptions } from './options.js';
import { planState } from '../lab/plan.js';
import { escapeText } from '../ui/escape.js';

export interface UpDeps {
  tools: Tools;
  receiver: ReceiverControl;
  timing: ApiserverTiming;
}

/**
 * Flags as planState takes them: only those given. On an existing lab the rest keep the lab's
 * values, so `up` after `down` rebuilds the same lab; a new lab takes the defaults.
 */
export function planOptions(o: UpOptions): RenderOptions {
  return {
    name: o.name,
    ...(o.mode !== undefined ? { mode: o.mode } : {}),
    ...(o.image !== undefined ? { image: o.image } : {}),
    ...(o.kindConfigApi !== undefined ? { kindConfigApi: o.kindConfigApi } : {}),
    ...(o.batchMaxWait !== undefined ? { batchMaxWait: o.batchMaxWait } : {}),
    ...(o.capture !== undefined ? { capture: o.capture } : {}),
    ...(o.port !== undefined ? { port: o.port } : {}),
  };
}

/** The state `up` would work from: planState, and no default sink for a new lab with --no-sink. */
export function upState(o: UpOptions, existing: LabState | null, now = new Date()): LabState {
  const state = planState(existing, planOptions(o), now);
  if (existing === null && !o.sink) state.sinks = [];
  return state;
}

/** A new lab without --port takes a port no other lab keeps (labs side by side share the gateway). */
async function withPort(o: UpOptions, existing: LabState | null, paths: LabPaths): Promise<UpOptions> {
  if (o.port !== undefined || existing !== null) return o;
  return { ...o, port: await pickReceiverPort(paths.home, paths.name) };
}

/** What a running cluster was made with; changing any of it needs a new cluster. */
function clusterShape(s: LabState): string {
  return JSON.stringify({ mode: s.mode, image: s.image, api: s.kindConfigApi, ...(s.mode === 'static' ? { wait: s.webhook.batchMaxWait, t: s.webhook.throttle } : {}) });
}

function describeShape(s: LabState): string {
  return `${s.mode} mode, ${s.image ?? "kind's default image"}`;
}

/** Where each rendered file goes in the lab. */
export function filePath(paths: LabPaths, f: RenderedFile): string {
  switch (f.name) {
    case 'config.yaml':
      return paths.kindConfig;
    case 'audit.yaml':
      return paths.auditSinks;
    default:
      return join(paths.apiserverDir, f.name);
  }
}

async function writeIfChanged(path: string, content: string, mode: number): Promise<boolean> {
  try {
    if ((await readFile(path, 'utf8')) === content) return false;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await writeFileAtomic(path, content, mode);
  return true;
}

function withoutTimestamp(s: LabState): string {
  return JSON.stringify({ ...s, updatedAt: '' });
}

class Steps {
  readonly times: [string, number][] = [];
  constructor(
    private readonly ctx: Context,
    private readonly verbose: boolean,
  ) {}
  async time<T>(label: string, fn: () => Promise<T>): Promise<T> {
    const start = Date.now();
    try {
      return await fn();
    } finally {
      const ms = Date.now() - start;
      this.times.push([label, ms]);
      if (this.verbose) this.ctx.out.info(this.ctx.out.style.dim(`  [${label}: ${(ms / 1000).toFixed(1)}s]`));
    }
  }
  print(): void {
    if (!this.verbose) return;
    const width = Math.max(...this.times.map(([l]) => l.length));
    const total = this.times.reduce((a, [, ms]) => a + ms, 0);
    this.ctx.out.info('timings:');
    for (const [l, ms] of this.times) this.ctx.out.info(`  ${l.padEnd(width)}  ${(ms / 1000).toFixed(1).padStart(6)}s`);
    this.ctx.out.info(`  ${'total'.padEnd(width)}  ${(total / 1000).toFixed(1).padStart(6)}s`);
  }
}

const RECOVER = 'run `audit-lab up` again to finish (it keeps what is done), or `audit-lab down` to remove what was made';

function withRecoveryHint(err: unknown): unknown {
  if (err instanceof ToolError && err.hint === undefined) return new ToolError(err.message, err.command, err.output, `fix the cause above, then ${RECOVER}`);
  if (err instanceof RuntimeFailure && err.hint === undefined) return new RuntimeFailure(err.message, RECOVER);
  return err;
}

export async function up(o: UpOptions, given: Context, deps: Partial<UpDeps> = {}): Promise<number> {
  const paths = pathsFor(given, o.name);
  if (o.dryRun) return dryRun(o, given, paths);
  // --verbose prints every command and every line kind prints: an animated spinner would draw
  // over them, so progress is plain start and end lines then (Output treats CI as not interactive).
  const ctx: Context = o.verbose ? { ...given, out: new Output(given.io.stdout, given.io.stderr, { ...given.io.env, CI: '1' }) } : given;
  const tools =
    deps.tools ??
    makeTools(createRunner(ctx.io.env, o.verbose ? { onCommand: (argv) => ctx.out.info(ctx.out.style.dim(`$ ${commandLine(argv)}`)) } : {}));
  const receiver = deps.receiver ?? (await receiverControl(ctx.io.env));
  const timing = deps.timing ?? timingFromEnv(ctx.io.env);
  const run = new UpRun(o, ctx, paths, tools, receiver, timing);
  try {
    return await run.run();
  } catch (err) {
    throw withRecoveryHint(err);
  } finally {
    run.steps.print();
  }
}

class UpRun {
  readonly steps: Steps;
  private readonly node: string;
  /** What this run changed, for the summary ("up already" when empty). */
  private readonly did: string[] = [];
  /** The cgroup version Docker's host runs, from the checks: it decides the kubelet patch. */
  private hostCgroup: CgroupVersion | null = null;

  constructor(
    private readonly o: UpOptions,
    private readonly ctx: Context,
    private readonly paths: LabPaths,
    private readonly tools: Tools,
    private readonly receiver: ReceiverControl,
    private readonly timing: ApiserverTiming,
  ) {
    this.steps = new Steps(ctx, o.verbose);
    this.node = controlPlaneNode(o.name);
  }

  private get apiDeps(): ApiserverDeps {
    return { docker: this.tools.docker, kubectl: this.tools.kubectl(this.o.name), out: this.ctx.out, timing: this.timing };
  }

  async run(): Promise<number> {
    const { o, ctx, paths, tools } = this;
    // Before anything is written through a link (see src/lab/safety.ts).
    await refuseLabSymlinks(paths);
    // Checks first and outside the lock: they change nothing, and a missing tool should not leave a lab behind.
    const before = await readState(paths);
    const planned = upState(o, before);
    const report = await this.steps.time('checks', () =>
      runChecks({ tools, paths, receiver: this.receiver, state: before, mode: planned.mode, image: planned.image, skipPort: true }),
    );
    const shown = o.verbose ? report.findings : report.findings.filter((f) => f.status !== 'ok');
    if (shown.length > 0) printFindings(ctx, shown, true);
    if (!report.ok) {
      const n = report.findings.filter((f) => f.status === 'fail').length;
      throw new RuntimeFailure(`cannot bring the lab up: ${n} check${n === 1 ? '' : 's'} failed (above)`, 'fix what they name, then run `audit-lab up` again; `audit-lab doctor` checks everything');
    }
    const docker = report.facts.docker!;
    const kindVersion = report.facts.kindVersion;
    this.hostCgroup = dockerCgroup(docker);
    // The lock is held while this command changes the lab, and let go while the receiver starts:
    // the receiver (`audit-lab serve` in the background) takes it itself to read the lab.
    const locked = <T>(fn: () => Promise<T>) => withLabLock(paths, 'up', fn);
    const prep = await locked(async () => {
      const existing = await readState(paths);
      let exists = (await this.steps.time('find cluster', () => tools.kind.clusters())).includes(o.name);
      if (exists && o.recreate) {
        await this.steps.time('delete cluster', () => this.deleteCluster());
        exists = false;
      }
      if (exists && existing === null) {
        throw new RuntimeFailure(
          `a kind cluster named ${JSON.stringify(o.name)} already exists, but lab ${JSON.stringify(o.name)} has no state: audit-lab did not make it (or the lab was purged)`,
          `use another name (\`audit-lab up --name ${o.name === DEFAULT_LAB_NAME ? 'audit-lab-2' : `${o.name}-2`}\`), or \`audit-lab up --recreate\` to delete that cluster and start over`,
        );
      }
      const state = upState(await withPort(o, existing, paths), existing);
      if (exists && existing !== null && clusterShape(existing) !== clusterShape(state)) {
        throw new UserError(
          `lab ${JSON.stringify(o.name)}'s cluster runs ${describeShape(existing)}; ${describeShape(state)} needs a new cluster`,
          'add --recreate to delete the cluster and make it again (events and sinks are kept)',
        );
      }
      // How the node reaches this machine: Docker Desktop's name, else the kind network's gateway,
      // which exists only once kind has made the network (the first cluster on this machine).
      let host: string | null;
      if (docker.desktop) {
        host = FALLBACK_NODE_HOST;
        state.receiver.address = '127.0.0.1';
      } else {
        host = await this.steps.time('find kind network', () => tools.docker.gateway(KIND_NETWORK));
        if (host !== null) state.receiver.address = host;
      }
      state.receiver.host = host;
      if (host !== null) await this.checkPort(state);
      const files = await this.steps.time('lab files', () => this.writeLab(existing, state, host));
      return { state, exists, host, files };
    });
    const { state, exists, files } = prep;
    if (prep.host !== null) await this.steps.time('receiver', () => this.ensureReceiver(state, files.certChanged));

    let restart = false;
    if (!exists) {
      await locked(() => this.steps.time('create cluster', () => this.createCluster(state, kindVersion)));
      // A new API server starts with the files as they are: no restart is pending for it.
      await rm(restartPending(paths), { force: true });
      this.did.push('created the cluster');
      if (prep.host === null) {
        const again = await locked(async () => {
          const host = await tools.docker.gateway(KIND_NETWORK);
          if (host === null) {
            throw new RuntimeFailure(
              `kind made cluster ${JSON.stringify(o.name)} but the docker network ${JSON.stringify(KIND_NETWORK)} has no IPv4 gateway audit-lab can use for the receiver`,
              `check \`docker network inspect ${KIND_NETWORK}\`; \`audit-lab render --receiver-host HOST\` shows the files for a host you choose`,
            );
          }
          ctx.out.info(`the node reaches this machine at ${host} (gateway of the ${KIND_NETWORK} network)`);
          const learned: LabState = { ...state, receiver: { ...state.receiver, host, address: host } };
          await this.checkPort(learned);
          const written = await this.steps.time('lab files', () => this.writeLab(state, learned, host));
          Object.assign(state, learned);
          return written;
        });
        await this.steps.time('receiver', () => this.ensureReceiver(state, again.certChanged));
        // The API server read its webhook config at start, with the placeholder host.
        restart = state.mode === 'static' && again.apiserverFilesChanged;
      }
    } else {
      await locked(() => this.steps.time('check cluster', () => this.checkWired(state)));
      restart = state.mode === 'static' && files.apiserverFilesChanged;
    }
    return locked(async () => {
      if (restart) {
        await this.steps.time('restart API server', () => restartApiserver(this.apiDeps));
        await rm(restartPending(paths), { force: true });
        this.did.push('restarted the API server');
      } else {
        await this.steps.time('API server ready', () => waitForApiserver(this.apiDeps));
      }
      await this.steps.time('node reaches receiver', () => this.proveReach(state));
      if (state.mode === 'dynamic') await this.steps.time('sinks', () => this.applySinks(state, files.auditSinksChanged));
      await this.summary(state);
      return 0;
    });
  }

  private async deleteCluster(): Promise<void> {
    const spin = await this.ctx.out.spinner(`deleting cluster ${this.o.name}`);
    try {
      await this.receiver.stop(this.paths);
      await this.tools.kind.deleteCluster(this.o.name);
    } catch (err) {
      spin.fail();
      throw err;
    }
    spin.succeed();
    this.did.push('deleted the old cluster');
  }

  private async checkPort(state: LabState): Promise<void> {
    const f = await checkPort(this.paths, this.receiver, state.receiver.address, state.receiver.port);
    if (f.status === 'fail') throw new RuntimeFailure(f.message, f.fix);
  }

  /**
   * State, PKI and rendered files, each written only when it differs, so a second `up` touches
   * nothing. The server certificate is reissued when it does not cover the node-facing host.
   */
  private async writeLab(previous: LabState | null, state: LabState, host: string | null) {
    const { paths } = this;
    if (previous === null || withoutTimestamp(previous) !== withoutTimestamp(state)) {
      state.updatedAt = new Date().toISOString();
      await writeState(paths, state);
    }
    const lab = await ensureLab(paths);
    // A new server certificate is routine here (the node reaches the receiver at a new address) and
    // up restarts the receiver with it; a new client certificate changes what the API server holds.
    for (const r of lab.reissued) {
      const text = describeReissue(r, paths, state.mode, 'up');
      if (r.part === 'server') this.ctx.out.info(text);
      else this.ctx.out.warn(text);
    }
    // A running receiver still serves the old server certificate: restart it.
    const certChanged = lab.pkiCreated || lab.reissued.some((r) => r.part === 'server');
    await ensurePrivateDir(paths.apiserverDir);
    const changed: string[] = [];
    const place = { mountDir: paths.apiserverDir, receiverHost: host ?? FALLBACK_NODE_HOST, hostCgroup: this.hostCgroup };
    // The API server's capture only has to cover every sink (as for `sink create`): a wider one,
    // left by a deleted sink, is kept rather than restarting the API server to narrow it.
    const deployed = state.mode === 'static' ? await deployedCapture(paths) : null;
    const keepCapture = deployed !== null && covers(deployed, captureFor(state.sinks, state.capture));
    // A `sink create` whose restart failed left its capture unloaded: this up restarts for it.
    const pending = state.mode === 'static' && (await stat(restartPending(paths)).then(() => true, () => false));
    for (const f of renderLabFiles(state, lab.pki, place)) {
      if (f.name === 'policy.yaml' && keepCapture) continue;
      if (await writeIfChanged(filePath(paths, f), f.content, f.mode)) changed.push(f.name);
    }
    if (changed.length > 0) this.did.push(`wrote ${changed.join(', ')}`);
    return {
      certChanged,
      apiserverFilesChanged: pending || changed.includes('policy.yaml') || changed.includes('webhook.kubeconfig'),
      auditSinksChanged: changed.includes('audit.yaml'),
    };
  }

  /** Starts the receiver, or restarts it when it listens elsewhere, has an old certificate or does not answer. */
  private async ensureReceiver(state: LabState, certChanged: boolean): Promise<void> {
    const st = await this.receiver.status(this.paths);
    if (st.running && (!sameListener(st.url, state.receiver.address, state.receiver.port) || certChanged || st.healthy === false)) {
      await this.receiver.stop(this.paths);
      this.did.push('restarted the receiver');
    }
    const r = await this.receiver.ensure(this.paths);
    if (r.started) {
      this.ctx.out.info(`receiver listening on ${r.url} (pid ${r.pid})`);
      if (!this.did.includes('restarted the receiver')) this.did.push('started the receiver');
    }
  }

  private async createCluster(state: LabState, kindVersion: string | null): Promise<void> {
    const { o, ctx } = this;
    if (needsCgroupV1Patch({ image: state.image, api: state.kindConfigApi, hostCgroup: this.hostCgroup })) ctx.out.info(CGROUP_V1_NOTE);
    const spin = await ctx.out.spinner(`creating cluster ${o.name} (${describeShape(state)})`);
    try {
      await this.tools.kind.createCluster(
        { name: o.name, config: this.paths.kindConfig, image: state.image },
        {
          onLine: (line) => {
            if (o.verbose) ctx.out.info(`  ${escapeText(line)}`);
            const text = kindProgressText(line);
            if (text !== '') spin.update(text);
          },
          failMessage: `kind could not create cluster ${JSON.stringify(o.name)}`,
          hint:
            `the output above is kind's; fix its cause, then ${RECOVER}` +
            (state.mode === 'dynamic' && kindVersion !== DYNAMIC_KIND_VERSION
              ? `. Dynamic mode's node images are tied to old kind releases: try kind v${DYNAMIC_KIND_VERSION} on a cgroup v1 host, or --mode static`
              : ''),
        },
      );
    } catch (err) {
      spin.fail();
      throw err;
    }
    spin.succeed(`created cluster ${o.name}`);
  }

  /** A cluster that is there already must be one `up` made for this mode, with its API server in place. */
  private async checkWired(state: LabState): Promise<void> {
    const { docker } = this.tools;
    if ((await docker.containerState(this.node)) !== 'running') {
      throw new RuntimeFailure(
        `cluster ${JSON.stringify(this.o.name)} exists but its node container ${this.node} is not running`,
        `start it with \`docker start ${this.node}\`, or start over with \`audit-lab up --recreate\``,
      );
    }
    if (await recoverApiserverManifest(docker, this.o.name)) {
      this.ctx.out.info('put back the API server manifest an interrupted restart had moved aside');
      this.did.push('restored the API server manifest');
    }
    const manifest = await docker.exec(this.node, ['cat', MANIFEST], { allowFailure: true });
    if (manifest.exitCode === 0 && !manifestWired(manifest.stdout, state.mode)) {
      throw new RuntimeFailure(
        `cluster ${JSON.stringify(this.o.name)}'s API server does not run with audit-lab's ${state.mode}-mode flags`,
        'start over with `audit-lab up --recreate` (events and sinks are kept)',
      );
    }
  }

  /** The node fetches the receiver's /healthz: address, port, routing and firewall all proven at once. */
  private async proveReach(state: LabState): Promise<void> {
    const url = receiverUrl(state.receiver.host!, state.receiver.port, HEALTH_PATH);
    let last = '';
    for (let i = 0; i < 5; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, this.timing.pollMs));
      const r = await this.tools.docker.exec(this.node, ['curl', '-fsSk', '-m', '5', url], { allowFailure: true, timeoutMs: 20_000 });
      if (r.exitCode === 0) return;
      last = r.output;
      if (/executable file not found|not found/.test(r.output) && r.exitCode === 127) break;
    }
    throw new ToolError(
      `the cluster's node cannot reach the receiver at ${url}`,
      ['docker', ...dockerArgs.exec(this.node, ['curl', '-fsSk', '-m', '5', url])],
      last,
      `the receiver listens on ${state.receiver.address}:${state.receiver.port}; a firewall on this machine may drop traffic from the ` +
        `${KIND_NETWORK} docker network to that port (allow it), then run \`audit-lab up\` again; \`audit-lab status\` shows the receiver`,
    );
  }

  /** Dynamic mode: the lab's sinks as AuditSink objects, applied when missing or changed. */
  private async applySinks(state: LabState, changed: boolean): Promise<void> {
    if (state.sinks.length === 0) return;
    const kubectl = this.tools.kubectl(this.o.name);
    if (!changed && !this.did.includes('created the cluster')) {
      const have = await kubectl.auditSinks();
      if (have !== null && state.sinks.every((s) => have.includes(s.name))) return;
    }
    await kubectl.apply(this.paths.auditSinks);
    this.did.push(`applied AuditSink${state.sinks.length === 1 ? '' : 's'} ${state.sinks.map((s) => s.name).join(', ')}`);
  }

  private async summary(state: LabState): Promise<void> {
    const { o, ctx } = this;
    const version = (await this.tools.kubectl(o.name).serverVersion()) ?? (state.kubernetesVersion ? `v${state.kubernetesVersion}` : null);
    const st = await this.receiver.status(this.paths);
    const nameFlag = o.name === DEFAULT_LAB_NAME ? '' : ` --name ${o.name}`;
    const s = ctx.out.style;
    if (this.did.length === 0) ctx.out.line(`lab ${JSON.stringify(o.name)} is up already; nothing to change.`);
    else ctx.out.line(`lab ${JSON.stringify(o.name)} is up.`);
    ctx.out.line(`  mode      ${state.mode}${version ? `, Kubernetes ${version}` : ''}`);
    ctx.out.line(`  cluster   ${o.name} (kubectl context ${kubeContext(o.name)})`);
    ctx.out.line(`  receiver  ${st.url ?? receiverUrl(state.receiver.address, state.receiver.port)}${st.pid ? ` (pid ${st.pid})` : ''}, reached by the node at ${state.receiver.host}`);
    ctx.out.line(
      `  sinks     ${state.sinks.length === 0 ? 'none' : state.sinks.map((k) => `${k.name} (${k.level}: ${k.stages.join(', ') || '-'})`).join('; ')}`,
    );
    ctx.out.line(`  lab       ${this.paths.dir}`);
    ctx.out.line('');
    ctx.out.line('next:');
    const steps: [string, string][] = [
      [`audit-lab tail${nameFlag}`, 'watch the audit events as they come'],
      [`kubectl --context ${kubeContext(o.name)} get pods -A`, 'make some'],
      [`audit-lab sink create full${nameFlag} --level RequestResponse --stage ResponseComplete`, 'a second sink, with bodies'],
      [`audit-lab status${nameFlag}`, 'cluster, receiver and event counts'],
      [`audit-lab down${nameFlag}`, 'delete the cluster (events are kept)'],
    ];
    if (state.sinks.length === 0) steps.splice(0, 0, [`audit-lab sink create${nameFlag} --level Metadata --stage ResponseComplete`, 'no sink yet: make one']);
    const width = Math.max(...steps.map(([c]) => c.length));
    for (const [c, why] of steps) ctx.out.line(`  ${c.padEnd(width)}  ${s.dim(`# ${why}`)}`);
  }
}

/** --dry-run: every file and command, nothing run and nothing written. */
async function dryRun(o: UpOptions, ctx: Context, paths: LabPaths): Promise<number> {
  const existing = await readState(paths);
  const state = upState(await withPort(o, existing, paths), existing);
  const host = state.receiver.host ?? FALLBACK_NODE_HOST;
  let pki: LabPki | null = existing ? await loadPki(paths.pkiDir, paths.name) : null;
  if (pki === null) pki = await createPki(o.name, defaultServerNames([host]));
  const hostCgroup = await localCgroup(ctx.io.env);
  const files = renderLabFiles(state, pki, { mountDir: paths.apiserverDir, receiverHost: host, hostCgroup });
  ctx.out.info(`dry run: nothing is run or written. ${describeShape(state)}.`);
  if (needsCgroupV1Patch({ image: state.image, api: state.kindConfigApi, hostCgroup })) ctx.out.info(CGROUP_V1_NOTE);
  if (state.receiver.host === null) {
    ctx.out.info(
      `note: the receiver is addressed as ${FALLBACK_NODE_HOST} here; on Linux up learns the ${KIND_NETWORK} network's gateway and uses that`,
    );
  }
  for (const f of files) ctx.out.data(`# ==> ${filePath(paths, f)} <==\n${f.content}\n`);
  const node = controlPlaneNode(o.name);
  const cmd = (argv: string[]) => ctx.out.line(`$ ${commandLine(argv)}`);
  const note = (text: string) => ctx.out.line(`# ${text}`);
  ctx.out.line('# ==> commands <==');
  note('checks (as `audit-lab doctor`)');
  cmd(['docker', ...dockerArgs.info()]);
  cmd(['kind', ...kindArgs.version()]);
  cmd(['kubectl', ...kubectlVerbs.clientVersion()]);
  cmd(['kind', ...kindArgs.getClusters()]);
  if (o.recreate) cmd(['kind', ...kindArgs.deleteCluster(o.name)]);
  cmd(['docker', ...dockerArgs.networkInspect(KIND_NETWORK)]);
  note(`write ${paths.state}, the PKI in ${paths.pkiDir}, and the files above`);
  note(`start the receiver in the background on ${state.receiver.address}:${state.receiver.port} (the gateway on Linux, 127.0.0.1 on Docker Desktop)`);
  cmd(['kind', ...kindArgs.createCluster({ name: o.name, config: paths.kindConfig, image: state.image })]);
  if (state.mode === 'static' && state.receiver.host === null) {
    note(`on Linux, when the ${KIND_NETWORK} network is new: learn its gateway, rewrite webhook.kubeconfig, restart the API server`);
    cmd(['docker', ...dockerArgs.exec(node, ['mv', MANIFEST, '/etc/kubernetes/kube-apiserver.yaml.audit-lab'])]);
    note('wait 25s, for kubelet to stop the API server');
    cmd(['docker', ...dockerArgs.exec(node, ['mv', '/etc/kubernetes/kube-apiserver.yaml.audit-lab', MANIFEST])]);
  }
  cmd(['kubectl', ...kubectlVerbs.readyz(o.name)]);
  cmd(['docker', ...dockerArgs.exec(node, ['curl', '-fsSk', '-m', '5', receiverUrl(host, state.receiver.port, HEALTH_PATH)])]);
  if (state.mode === 'dynamic' && state.sinks.length > 0) cmd(['kubectl', ...kubectlArgs(o.name, ['apply', '-f', paths.auditSinks])]);
  return 0;
}
