/**
 * A lab that lost one of its six PKI files, as the CLI sees it: `serve` reissues a lost leaf
 * from the lab's CA and says so, refuses to run without its CA (and never makes a new one), and
 * `status` and `doctor` report what is missing. Build first: `npm run build`.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test, type TestContext } from 'vitest';
import { ensureLab } from '../../src/lab/lab.js';
import { withLabLock } from '../../src/lab/lock.js';
import { labPaths, type LabPaths } from '../../src/lab/paths.js';
import { PKI_FILES } from '../../src/lab/pki.js';
import { renderWebhookKubeconfig } from '../../src/render/webhookKubeconfig.js';
import { serveUrl } from '../harness/cli.js';
import { freePort, isAlive, type Result, Sandbox } from '../harness/lab.js';
import { ASIDE, healthyTable, MANIFEST } from '../harness/tables.js';

// Four or five CLI processes per test, six tests at once: room for a loaded 2-core machine.
const SLOW = { timeout: 120_000 };

async function labSandbox(t: TestContext): Promise<{ sb: Sandbox; paths: LabPaths; before: Record<string, string> }> {
  const sb = await Sandbox.create(healthyTable());
  t.onTestFinished(() => sb.cleanup());
  const paths = labPaths(sb.home, 'audit-lab');
  const lab = await withLabLock(paths, 'test', () => ensureLab(paths));
  // As `up` would have left it: the API server's kubeconfig made from this PKI.
  await mkdir(paths.apiserverDir, { recursive: true, mode: 0o700 });
  await writeFile(
    paths.webhookKubeconfig,
    renderWebhookKubeconfig({
      server: 'https://127.0.0.1:1/events',
      caPem: lab.pki.ca.cert,
      clientCertPem: lab.pki.client.cert,
      clientKeyPem: lab.pki.client.key,
    }),
    { mode: 0o600 },
  );
  const before: Record<string, string> = {};
  for (const f of Object.values(PKI_FILES)) before[f] = await readFile(join(paths.pkiDir, f), 'utf8');
  return { sb, paths, before };
}

/**
 * `audit-lab serve --port 0` as a process: its result once it either exits or prints its URL (then
 * it is stopped with SIGTERM, as Ctrl-C would).
 */
async function serveUntilListening(sb: Sandbox): Promise<Result & { listened: boolean }> {
  const serve = sb.start(['serve', '--port', '0']);
  const listened = await serveUrl(serve).then(
    () => true,
    () => false,
  );
  return { ...(await serve.stop()), listened };
}

interface StatusJson {
  pki: { complete: boolean; issues: { file: string; problem: string }[] } | null;
  problems: string[];
}

async function status(sb: Sandbox): Promise<StatusJson> {
  const r = await sb.run(['status', '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as StatusJson;
}

describe.concurrent('a lab that lost its CA', () => {
  for (const file of [PKI_FILES.caCert, PKI_FILES.caKey]) {
    test(`${file}: status and doctor say so, serve refuses and makes no new CA`, SLOW, async (t) => {
      const { sb, paths, before } = await labSandbox(t);
      const lost = join(paths.pkiDir, file);
      await rm(lost);

      const st = await status(sb);
      expect(st.pki).toEqual({ complete: false, issues: [{ file: lost, problem: 'is missing' }] });
      expect(st.problems.join('\n')).toContain(`the lab CA cannot be used: ${lost} is missing`);

      const doc = await sb.run(['doctor', '--json']);
      expect(doc.code).toBe(1);
      const checks = (
        JSON.parse(doc.stdout) as { checks: { check: string; status: string; message: string; fix?: string }[] }
      ).checks;
      expect(checks.find((c) => c.check === 'pki')).toMatchObject({
        status: 'fail',
        message: `the lab CA cannot be used: ${lost} is missing`,
      });

      const r = await serveUntilListening(sb);
      expect(r.listened).toBe(false);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`the lab CA cannot be used: ${lost} is missing`);
      expect(r.stderr).toContain(`move ${paths.pkiDir} aside`);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      for (const f of Object.values(PKI_FILES).filter((f) => f !== file))
        expect(await readFile(join(paths.pkiDir, f), 'utf8')).toBe(before[f]);
      await expect(readFile(lost)).rejects.toMatchObject({ code: 'ENOENT' });
    });
  }
});

describe.concurrent('a lab that lost a leaf', () => {
  const leaves = [
    [PKI_FILES.serverCert, 'receiver'],
    [PKI_FILES.serverKey, 'receiver'],
    [PKI_FILES.clientCert, 'client'],
    [PKI_FILES.clientKey, 'client'],
  ] as const;
  for (const [file, whose] of leaves) {
    test(
      `${file}: status and doctor report it; serve reissues it from the same CA and says what to run`,
      SLOW,
      async (t) => {
        const { sb, paths, before } = await labSandbox(t);
        const lost = join(paths.pkiDir, file);
        await rm(lost);

        const st = await status(sb);
        expect(st.pki).toEqual({ complete: false, issues: [{ file: lost, problem: 'is missing' }] });
        expect(st.problems.join('\n')).toContain(
          `the lab's certificates are incomplete: ${lost} is missing: \`audit-lab up\` reissues them`,
        );
        if (file === PKI_FILES.serverCert) {
          // One leaf is enough for doctor: it reports from the same inspection as status.
          const doc = JSON.parse((await sb.run(['doctor', '--json'])).stdout) as {
            checks: { check: string; status: string; message: string }[];
          };
          expect(doc.checks.find((c) => c.check === 'pki')).toMatchObject({
            status: 'warn',
            message: `the lab's certificates are incomplete: ${lost} is missing`,
          });
        }

        const r = await serveUntilListening(sb);
        expect(r.listened, r.stderr).toBe(true);
        expect(r.stderr).toContain(`from the lab CA: ${lost} is missing`);
        expect(await readFile(join(paths.pkiDir, PKI_FILES.caCert), 'utf8')).toBe(before[PKI_FILES.caCert]);
        expect(await readFile(join(paths.pkiDir, PKI_FILES.caKey), 'utf8')).toBe(before[PKI_FILES.caKey]);
        await readFile(lost);

        const after = await status(sb);
        expect(after.pki).toEqual({ complete: true, issues: [] });
        const kubeconfigProblem = `${paths.webhookKubeconfig} was made from other certificates`;
        if (whose === 'client') {
          // The API server still has the old client certificate: serve says what to run, and status keeps saying it.
          expect(r.stderr).toContain(
            `${paths.webhookKubeconfig} still holds the old one, and the API server reads it only at start: run \`audit-lab up\``,
          );
          expect(after.problems.join('\n')).toContain(kubeconfigProblem);
        } else {
          expect(r.stderr).toContain("reissued the receiver's certificate");
          expect(after.problems.join('\n')).not.toContain(kubeconfigProblem);
        }
      },
    );
  }
});

describe.concurrent('up repairs what serve only reports', () => {
  test(
    'lost server.key and client.crt on a running lab: up reissues both, restarts the receiver, rewrites webhook.kubeconfig and restarts the API server',
    SLOW,
    async (t) => {
      const sb = await Sandbox.create(healthyTable());
      t.onTestFinished(() => sb.cleanup());
      await sb.setWorld({ network: true });
      const ok = (r: Result) => {
        expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
        return r;
      };
      ok(await sb.run(['up', '--port', String(await freePort())]));
      const paths = labPaths(sb.home, 'audit-lab');
      const ca = await readFile(join(paths.pkiDir, PKI_FILES.caCert), 'utf8');
      const oldKubeconfig = await readFile(paths.webhookKubeconfig, 'utf8');
      const pid = (await sb.receiverPid())!;
      await rm(join(paths.pkiDir, PKI_FILES.serverKey));
      await rm(join(paths.pkiDir, PKI_FILES.clientCert));
      await sb.clearCalls();

      const r = ok(await sb.run(['up']));
      expect(r.stderr).toContain(
        `reissued the receiver's certificate (server.crt, server.key) from the lab CA: ${join(paths.pkiDir, PKI_FILES.serverKey)} is missing`,
      );
      expect(r.stderr).toContain(
        `from the lab CA: ${join(paths.pkiDir, PKI_FILES.clientCert)} is missing; ${paths.webhookKubeconfig} is rewritten with it`,
      );
      // The old receiver served the old server certificate from memory: a new one serves the reissued.
      expect(isAlive(pid)).toBe(false);
      expect(await sb.receiverPid()).not.toBe(pid);
      const calls = (await sb.calls()).map((c) => `${c.tool} ${c.args.join(' ')}`);
      expect(calls).toContain(`docker exec audit-lab-control-plane mv ${MANIFEST} ${ASIDE}`);
      expect(await readFile(join(paths.pkiDir, PKI_FILES.caCert), 'utf8')).toBe(ca);
      expect(await readFile(paths.webhookKubeconfig, 'utf8')).not.toBe(oldKubeconfig);
      const st = await status(sb);
      expect(st.pki).toEqual({ complete: true, issues: [] });
      expect(st.problems).toEqual([]);
    },
  );
});
