/**
 * Static mode end to end through the receiver: the API server captured once (RequestResponse at
 * RequestReceived and ResponseComplete, what these two sinks together need), and each stream must
 * hold exactly what an AuditSink with that sink's level and stages would have been sent. The
 * expectation is written out by hand from the AuditSink rules, not computed by the code under test.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { captureFor } from '../../src/render/policyFile.js';
import { STATIC_PATH } from '../../src/lab/endpoints.js';
import { type RunningReceiver, startLabReceiver } from '../../src/receiver/start.js';
import { streamFile } from '../../src/streams/names.js';
import { auditEvent, eventList, readEvents } from '../harness/events.js';
import { tempLab, type TempLab } from '../harness/lab.js';
import { post } from '../harness/receiver.js';

let lab: TempLab | undefined;
let recv: RunningReceiver | undefined;
afterEach(async () => {
  await recv?.close();
  await lab?.cleanup();
  recv = undefined;
  lab = undefined;
});

const cm = {
  kind: 'ConfigMap',
  apiVersion: 'v1',
  metadata: { name: 'game', namespace: 'default' },
  data: { lives: '3' },
};

/** What a RequestResponse capture hands the webhook for one `kubectl create configmap`. */
function captured(stage: 'RequestReceived' | 'ResponseComplete', auditID: string) {
  return auditEvent({
    level: 'RequestResponse',
    auditID,
    stage,
    requestURI: '/api/v1/namespaces/default/configmaps?fieldManager=kubectl-create',
    verb: 'create',
    user: { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] },
    sourceIPs: ['127.0.0.1'],
    userAgent: 'kubectl/v1.32.4',
    objectRef: { resource: 'configmaps', namespace: 'default', name: 'game', apiVersion: 'v1' },
    // The request body is decoded after RequestReceived is emitted: only later stages carry it.
    ...(stage === 'ResponseComplete'
      ? {
          responseStatus: { metadata: {}, code: 201 },
          requestObject: cm,
          responseObject: { ...cm, metadata: { ...cm.metadata, uid: 'u1', resourceVersion: '7' } },
        }
      : {}),
    requestReceivedTimestamp: '2026-11-26T10:00:00.000000Z',
    stageTimestamp: stage === 'ResponseComplete' ? '2026-11-26T10:00:00.004000Z' : '2026-11-26T10:00:00.000000Z',
    annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': '' },
  });
}

describe('two sinks on one capture (static mode)', () => {
  it('gives each sink exactly what its AuditSink would have received', async () => {
    const sinks = [
      { name: 'meta', level: 'Metadata' as const, stages: ['ResponseComplete' as const] },
      {
        name: 'full',
        level: 'RequestResponse' as const,
        stages: ['RequestReceived' as const, 'ResponseComplete' as const],
      },
    ];
    // The capture audit-lab deploys for these two sinks.
    expect(captureFor(sinks, 'sinks')).toEqual({
      level: 'RequestResponse',
      stages: ['RequestReceived', 'ResponseComplete'],
    });
    lab = await tempLab(sinks);
    recv = await startLabReceiver(lab.lab, { address: '127.0.0.1', port: 0 });

    const batch = [
      captured('RequestReceived', 'a1'),
      captured('ResponseComplete', 'a1'),
      captured('RequestReceived', 'b2'),
      captured('ResponseComplete', 'b2'),
    ];
    const reply = await post(`${recv.url}${STATIC_PATH}`, eventList(batch), {
      ca: lab.lab.pki.ca.cert,
      cert: lab.lab.pki.client,
    });
    expect(reply.status).toBe(200);

    const header = { kind: 'Event', apiVersion: 'audit.k8s.io/v1' };
    const meta = await readEvents(streamFile(lab.lab.paths.streamsDir, 'meta'));
    const full = await readEvents(streamFile(lab.lab.paths.streamsDir, 'full'));

    // Metadata at ResponseComplete: the two completions, level Metadata, no objects.
    expect(meta).toEqual(
      ['a1', 'b2'].map((id) => {
        const { requestObject: _req, responseObject: _resp, ...rest } = captured('ResponseComplete', id);
        return { ...header, ...rest, level: 'Metadata' };
      }),
    );
    // RequestResponse at RequestReceived and ResponseComplete: everything, as captured.
    expect(full).toEqual(batch.map((e) => ({ ...header, ...e })));
    // The stored line is the audit-log format: kind and apiVersion first.
    expect(Object.keys(meta[0]!).slice(0, 3)).toEqual(['kind', 'apiVersion', 'level']);
  });
});
