/**
 * Static-mode sinks beyond a level: a sink with its own audit Policy (`sink create --policy`) and a
 * sink that also forwards to an external endpoint (`sink create --url`), end to end through the
 * receiver. Expectations are written out from the Policy rules, not computed by the code under test.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ensurePrivateDir } from '../../src/lab/fsutil.js';
import { ensureLab } from '../../src/lab/lab.js';
import { labPaths } from '../../src/lab/paths.js';
import { newSinkState, readState, writeState } from '../../src/lab/state.js';
import { STATIC_PATH } from '../../src/lab/endpoints.js';
import { createPki } from '../../src/lab/pkiIssuer.js';
import { type RunningReceiver, startLabReceiver } from '../../src/receiver/start.js';
import { sinkPolicyFile, streamFile } from '../../src/streams/names.js';
import { runCli } from '../harness/cli.js';
import { eventList, readEvents } from '../harness/events.js';
import { fakeToolsEnv, testDir } from '../harness/lab.js';
import { logged, post, startReceiver } from '../harness/receiver.js';

const POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  nonResourceURLs: ["/healthz*"]
- level: Metadata
  resources: [{group: "", resources: ["secrets"]}]
- level: RequestResponse
  resources: [{group: "", resources: ["configmaps"]}]
  omitManagedFields: true
- level: Request
`;

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const home = () => testDir();

const managed = [{ manager: 'kubectl-create', operation: 'Update', apiVersion: 'v1', time: '2026-11-26T10:00:00Z' }];

/** A request as a RequestResponse capture hands it over. */
function captured(id: string, stage: string, over: Record<string, unknown>): Record<string, unknown> {
  return {
    level: 'RequestResponse',
    auditID: id,
    stage,
    requestURI: '/',
    verb: 'get',
    user: { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] },
    sourceIPs: ['127.0.0.1'],
    userAgent: 'kubectl/v1.32.4',
    responseStatus: { metadata: {}, code: 200 },
    requestReceivedTimestamp: '2026-11-26T10:00:00.000000Z',
    stageTimestamp: '2026-11-26T10:00:00.003000Z',
    ...over,
  };
}

const secret = {
  kind: 'Secret',
  apiVersion: 'v1',
  metadata: { name: 's1', managedFields: managed },
  data: { password: 'aHVudGVyMg==' },
};
const cm = { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'c1', managedFields: managed }, data: { k: 'v' } };
const pod = { kind: 'Pod', apiVersion: 'v1', metadata: { name: 'p1' } };

describe('a sink with its own policy', () => {
  it('sink create --policy keeps a private copy, derives the capture it needs, and the receiver applies it per request', async () => {
    const dir = await home();
    const paths = labPaths(join(dir, 'home'), 'audit-lab');
    // The narrow capture, which grows with what each sink needs.
    const made = await ensureLab(paths);
    await writeState(paths, { ...made.state, capture: 'sinks' });
    await writeFile(join(dir, 'policy.yaml'), POLICY);
    const table = join(dir, 'table.json');
    const tools = await fakeToolsEnv(table, { kind: [{ args: ['get', 'clusters'], stdout: '' }] });
    const env = { AUDIT_LAB_HOME: paths.home, ...tools };
    const r = await runCli(['sink', 'create', 'sec', '--policy', join(dir, 'policy.yaml')], { env, cwd: dir });
    expect(r.stdout).toContain('has no cluster running: it applies at the next `audit-lab up`');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      `sink "sec" created: policy ${join(dir, 'policy.yaml')} (at most RequestResponse at ResponseStarted, ResponseComplete, Panic)`,
    );
    const sink = (await readState(paths))!.sinks.find((s) => s.name === 'sec')!;
    expect(sink).toMatchObject({
      level: 'RequestResponse',
      stages: ['ResponseStarted', 'ResponseComplete', 'Panic'],
      policy: join(dir, 'policy.yaml'),
    });
    expect(await readFile(sinkPolicyFile(paths, 'sec'), 'utf8')).toBe(POLICY);
    expect((await stat(sinkPolicyFile(paths, 'sec'))).mode & 0o777).toBe(0o600);
    // The capture grew to cover it.
    expect(parse(await readFile(paths.policy, 'utf8'))).toEqual({
      apiVersion: 'audit.k8s.io/v1',
      kind: 'Policy',
      omitStages: ['RequestReceived'],
      rules: [{ level: 'RequestResponse' }],
    });

    const lab = await ensureLab(paths);
    const recv: RunningReceiver = await startLabReceiver(lab, { address: '127.0.0.1', port: 0 });
    cleanups.push(() => recv.close());
    const batch = [
      captured('s', 'ResponseComplete', {
        verb: 'create',
        requestURI: '/api/v1/namespaces/default/secrets',
        objectRef: { resource: 'secrets', namespace: 'default', name: 's1', apiVersion: 'v1' },
        requestObject: secret,
        responseObject: secret,
      }),
      captured('c', 'ResponseComplete', {
        verb: 'create',
        requestURI: '/api/v1/namespaces/default/configmaps',
        objectRef: { resource: 'configmaps', namespace: 'default', name: 'c1', apiVersion: 'v1' },
        requestObject: cm,
        responseObject: cm,
      }),
      captured('c', 'ResponseStarted', {
        verb: 'create',
        requestURI: '/api/v1/namespaces/default/configmaps',
        objectRef: { resource: 'configmaps', namespace: 'default', name: 'c1', apiVersion: 'v1' },
      }),
      captured('c0', 'RequestReceived', {
        verb: 'create',
        requestURI: '/api/v1/namespaces/default/configmaps',
        objectRef: { resource: 'configmaps', namespace: 'default', name: 'c1', apiVersion: 'v1' },
      }),
      captured('p', 'ResponseComplete', {
        requestURI: '/api/v1/namespaces/default/pods/p1',
        objectRef: { resource: 'pods', namespace: 'default', name: 'p1', apiVersion: 'v1' },
        responseObject: pod,
      }),
      captured('h', 'ResponseComplete', { requestURI: '/healthz?verbose' }),
    ];
    const reply = await post(`${recv.url}${STATIC_PATH}`, eventList(batch), {
      ca: lab.pki.ca.cert,
      cert: lab.pki.client,
    });
    expect(reply.status).toBe(200);

    const head = { kind: 'Event', apiVersion: 'audit.k8s.io/v1' };
    const strip = (o: typeof cm) => ({ ...o, metadata: { name: o.metadata.name } });
    const { requestObject: _a, responseObject: _b, ...secretMeta } = batch[0]!;
    const { responseObject: _c, ...podReq } = batch[4]!;
    expect(await readEvents(streamFile(paths.streamsDir, 'sec'))).toEqual([
      { ...head, ...secretMeta, level: 'Metadata' },
      { ...head, ...batch[1], requestObject: strip(cm), responseObject: strip(cm) },
      { ...head, ...batch[2] },
      { ...head, ...podReq, level: 'Request' },
    ]);
    // The default sink (Metadata at ResponseComplete) is unaffected by the other sink's policy.
    expect(
      (await readEvents(streamFile(paths.streamsDir, 'default'))).map((e) => [
        e.auditID,
        e.level,
        'requestObject' in e,
      ]),
    ).toEqual([
      ['s', 'Metadata', false],
      ['c', 'Metadata', false],
      ['p', 'Metadata', false],
      ['h', 'Metadata', false],
    ]);
  });

  it('refuses a policy kube-apiserver would refuse (exit 2, its message), --level with --policy, and dynamic mode', async () => {
    const dir = await home();
    const paths = labPaths(join(dir, 'home'), 'audit-lab');
    await ensureLab(paths);
    await writeFile(join(dir, 'bad.yaml'), 'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Loud\n');
    const env = { AUDIT_LAB_HOME: paths.home };
    const bad = await runCli(['sink', 'create', 'x', '--policy', 'bad.yaml'], { env, cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('rules[0].level: Unsupported value: "Loud"');
    const both = await runCli(['sink', 'create', 'x', '--policy', 'preset:metadata', '--level', 'Request'], {
      env,
      cwd: dir,
    });
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('leave out --level and --stage');
    const unknown = await runCli(['sink', 'create', 'x', '--policy', 'preset:nope'], { env, cwd: dir });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('preset:recommended');
    expect((await readState(paths))!.sinks.map((s) => s.name)).toEqual(['default']);

    const state = (await readState(paths))!;
    await writeState(paths, { ...state, mode: 'dynamic' });
    const dyn = await runCli(['sink', 'create', 'x', '--policy', 'preset:metadata'], { env, cwd: dir });
    expect(dyn.code).toBe(2);
    expect(dyn.stderr).toContain('an AuditSink has only a level and stages');
  });
});

describe('a sink that also forwards (--url)', () => {
  it("sends the sink's stored events on as EventList batches, and keeps storing while the endpoint is down", async () => {
    const dir = await home();
    const paths = labPaths(join(dir, 'home'), 'audit-lab');
    const endpointPki = await createPki('endpoint', ['127.0.0.1']);
    const bodies: { items: { auditID: string; level: string; requestObject?: unknown }[] }[] = [];
    let arrived = () => {};
    /** Resolves once the endpoint has taken `n` events in all. */
    const received = (n: number) =>
      new Promise<void>((resolve) => {
        arrived = () => bodies.flatMap((b) => b.items).length >= n && resolve();
        arrived();
      });
    let up = true;
    const server: Server = createServer({ cert: endpointPki.server.cert, key: endpointPki.server.key }, (req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        if (!up) return void res.writeHead(503).end();
        bodies.push(JSON.parse(body));
        arrived();
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => server.close(r)));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/audit`;

    const lab0 = await ensureLab(paths);
    await writeState(paths, {
      ...lab0.state,
      sinks: [
        newSinkState({
          name: 'out',
          level: 'Metadata',
          stages: ['ResponseComplete'],
          throttle: { qps: 50, burst: 50 },
          url,
        }),
      ],
    });
    await ensurePrivateDir(paths.streamsDir);
    const lab = await ensureLab(paths);
    const logs: string[] = [];
    const recv = await startReceiver(lab, logs, { forward: { forwardCa: endpointPki.ca.cert, forwardBackoffMs: 20 } });
    cleanups.push(() => recv.close());
    const send = (ids: string[]) =>
      post(
        `${recv.url}${STATIC_PATH}`,
        eventList(ids.map((id) => captured(id, 'ResponseComplete', { requestObject: cm }))),
        { ca: lab.pki.ca.cert, cert: lab.pki.client },
      );

    expect((await send(['a', 'b'])).status).toBe(200);
    await received(2);
    expect(bodies.flatMap((b) => b.items).map((e) => [e.auditID, e.level, 'requestObject' in e])).toEqual([
      ['a', 'Metadata', false],
      ['b', 'Metadata', false],
    ]);

    up = false;
    expect((await send(['c'])).status).toBe(200);
    expect((await readEvents(streamFile(paths.streamsDir, 'out'))).map((e) => e.auditID)).toEqual(['a', 'b', 'c']);
    await logged(logs, 'HTTP 503');
    up = true;
    await received(3);
    expect(bodies.flatMap((b) => b.items).map((e) => e.auditID)).toEqual(['a', 'b', 'c']);
  });
});
