/**
 * Everything `up` needs, checked, each finding with how to fix it: `doctor` reports them, `up`
 * runs them first so it fails with these messages instead of obscurely half-way.
 */
import { otherLabsPorts, probePort } from '../lab/ports.js';
import { type LabPaths, nameFlag } from '../lab/paths.js';
import { ToolError } from '../errors.js';
import { DEFAULT_DYNAMIC_IMAGE, type Mode, parseImageVersion } from '../lab/mode.js';
import { DEFAULT_RECEIVER_PORT, firstReceiverPort, type LabState } from '../lab/state.js';
import { caFix, describePkiIssue, inspectPki } from '../lab/pki.js';
import { type DockerInfo, dockerArgs, parseDockerInfo } from '../tools/docker.js';
import type { Tools } from '../tools/index.js';
import { kindArgs } from '../tools/kind.js';
import { Kubectl, kubectlVerbs } from '../tools/kubectl.js';
import { type ReceiverControl, sameListener } from '../daemon/control.js';
import { INSTALL_HINTS, ToolMissing } from '../tools/run.js';

export type Severity = 'ok' | 'warn' | 'fail';

export interface Finding {
  check: string;
  status: Severity;
  message: string;
  /** What to do about it (warn and fail only). */
  fix?: string;
}

export interface CheckFacts {
  docker: DockerInfo | null;
  kindVersion: string | null;
  kubectlVersion: string | null;
}

export interface CheckReport {
  ok: boolean;
  findings: Finding[];
  facts: CheckFacts;
}

/** The kind release that built the default dynamic-mode node image. */
export const DYNAMIC_KIND_VERSION = '0.11.1';

const DOCKER_DOWN_FIX =
  'start Docker (Docker Desktop, or `sudo systemctl start docker` on Linux); if it runs, check that you may use it: ' +
  '`docker info` must work without sudo (on Linux: `sudo usermod -aG docker $USER`, then log in again)';

export async function checkDocker(tools: Tools): Promise<{ finding: Finding; info: DockerInfo | null }> {
  let r: Awaited<ReturnType<Tools['docker']['info']>>;
  try {
    r = await tools.docker.info();
  } catch (err) {
    if (err instanceof ToolMissing) {
      return {
        finding: { check: 'docker', status: 'fail', message: 'docker is not on PATH', fix: INSTALL_HINTS.docker },
        info: null,
      };
    }
    throw err;
  }
  const info = parseDockerInfo(r.stdout);
  const serverErr = [...(info?.serverErrors ?? []), ...r.stderr.split('\n')].map((l) => l.trim()).find((l) => l !== '');
  if (r.exitCode !== 0 || !info || info.serverVersion === null) {
    return {
      finding: {
        check: 'docker',
        status: 'fail',
        message: `the Docker daemon is not reachable${serverErr ? `: ${serverErr}` : ''}`,
        fix: DOCKER_DOWN_FIX,
      },
      info: null,
    };
  }
  const where = info.operatingSystem ? ` on ${info.operatingSystem}` : '';
  return {
    finding: { check: 'docker', status: 'ok', message: `Docker ${info.serverVersion}${where}, daemon reachable` },
    info,
  };
}

async function checkKind(tools: Tools): Promise<{ finding: Finding; version: string | null }> {
  try {
    const v = await tools.kind.version();
    return {
      finding: { check: 'kind', status: 'ok', message: v.text || `kind ${v.version ?? '(unknown version)'}` },
      version: v.version,
    };
  } catch (err) {
    if (err instanceof ToolMissing)
      return {
        finding: { check: 'kind', status: 'fail', message: 'kind is not on PATH', fix: INSTALL_HINTS.kind },
        version: null,
      };
    if (err instanceof ToolError) {
      return {
        finding: {
          check: 'kind',
          status: 'fail',
          message: `\`kind version\` failed: ${err.message}`,
          fix: `reinstall kind: ${INSTALL_HINTS.kind}`,
        },
        version: null,
      };
    }
    throw err;
  }
}

export async function checkKubectl(
  tools: Pick<Tools, 'runner'>,
): Promise<{ finding: Finding; version: string | null }> {
  try {
    const v = await Kubectl.clientVersion(tools.runner);
    return {
      finding: { check: 'kubectl', status: 'ok', message: `kubectl ${v ?? '(version not reported)'}` },
      version: v,
    };
  } catch (err) {
    if (err instanceof ToolMissing) {
      return {
        finding: { check: 'kubectl', status: 'fail', message: 'kubectl is not on PATH', fix: INSTALL_HINTS.kubectl },
        version: null,
      };
    }
    throw err;
  }
}

/**
 * Old node images (<= 1.18, what dynamic mode needs) do not run on cgroup v2 hosts, and a node
 * image wants the kind release that built it. For `up --mode dynamic` these are failures; for
 * doctor with no lab, warnings about what dynamic mode would need; for doctor on a static lab
 * (`staticLab`), which needs neither, plain facts.
 */
export function dynamicFindings(
  info: DockerInfo | null,
  kindVersion: string | null,
  opts: { needed: boolean; image?: string | null; staticLab?: boolean },
): Finding[] {
  const out: Finding[] = [];
  const bad: Severity = opts.needed ? 'fail' : 'warn';
  if (!info) {
    out.push({
      check: 'cgroup',
      status: 'warn',
      message: "unknown: Docker does not answer (above), and the cgroup version is its host's",
      fix: 'start Docker, then `audit-lab doctor` again',
    });
  } else if (opts.staticLab && info.cgroupVersion === '2') {
    out.push({
      check: 'cgroup',
      status: 'ok',
      message: "cgroup v2: this lab's static mode runs here (dynamic mode's node images, <= 1.18, would not)",
    });
  } else {
    if (info.cgroupVersion === '2') {
      out.push({
        check: 'cgroup',
        status: bad,
        message:
          'cgroup v2 host: node images <= 1.18, which dynamic mode (the AuditSink API) needs, do not run on cgroup v2',
        fix:
          'use static mode (the default; same commands, every Kubernetes version), or run dynamic mode on a cgroup v1 host ' +
          '(e.g. a Linux VM booted with systemd.unified_cgroup_hierarchy=0)',
      });
    } else {
      out.push({
        check: 'cgroup',
        status: 'ok',
        message:
          'cgroup v1: both modes can run; kubelet >= 1.35 refuses cgroup v1 by default, so for those node images ' +
          "(and kind's default one) `up` and `render` add failCgroupV1: false to the KubeletConfiguration",
      });
    }
  }
  const image = opts.image ?? DEFAULT_DYNAMIC_IMAGE;
  const imageTag = image.split('@')[0]!;
  if (image === DEFAULT_DYNAMIC_IMAGE && kindVersion !== null) {
    if (kindVersion === DYNAMIC_KIND_VERSION) {
      out.push({
        check: 'kind release',
        status: 'ok',
        message: `kind v${kindVersion} matches dynamic mode's node image ${imageTag}`,
      });
    } else if (opts.staticLab) {
      out.push({
        check: 'kind release',
        status: 'ok',
        message: `kind v${kindVersion}: this lab's static mode works with it (dynamic mode's ${imageTag} would want kind v${DYNAMIC_KIND_VERSION})`,
      });
    } else {
      out.push({
        check: 'kind release',
        status: 'warn',
        message: `dynamic mode's node image ${imageTag} was built by kind v${DYNAMIC_KIND_VERSION}; this kind is v${kindVersion}, and node images are tied to the kind release that built them`,
        fix: `for dynamic mode use kind v${DYNAMIC_KIND_VERSION} (\`go install sigs.k8s.io/kind@v${DYNAMIC_KIND_VERSION}\`, or its release binary); static mode works with this kind`,
      });
    }
  }
  return out;
}

/** Tries to listen where the receiver will; EADDRNOTAVAIL means the address is not on this machine (yet). */
export async function checkPort(
  paths: LabPaths,
  receiver: ReceiverControl | null,
  address: string,
  port: number,
): Promise<Finding> {
  const where = `${address}:${port}`;
  if (receiver) {
    const st = await receiver.status(paths);
    if (st.running && sameListener(st.url, address, port)) {
      return { check: 'port', status: 'ok', message: `${where} is this lab's receiver (pid ${st.pid})` };
    }
  }
  const probe = await probePort(address, port);
  switch (probe) {
    case 'free':
      return { check: 'port', status: 'ok', message: `${where} is free for the receiver` };
    case 'in-use': {
      const holder = (await otherLabsPorts(paths.home, paths.name)).get(port);
      const labFlag = nameFlag(paths.name);
      if (holder !== undefined) {
        return {
          check: 'port',
          status: 'fail',
          message: `${where} is taken by lab ${JSON.stringify(holder)}'s receiver: labs side by side each need their own port`,
          fix: `give this lab another port: \`audit-lab up${labFlag} --port ${port + 1}\` (a new lab picks a free one itself)`,
        };
      }
      return {
        check: 'port',
        status: 'fail',
        message: `${where} is taken by another program, so the receiver cannot listen there`,
        fix: `stop that program (\`lsof -i :${port}\` or \`ss -ltnp\` names it), or use another port: \`audit-lab up${labFlag} --port ${port === DEFAULT_RECEIVER_PORT ? port + 1 : DEFAULT_RECEIVER_PORT}\``,
      };
    }
    case 'unavailable':
      return {
        check: 'port',
        status: 'warn',
        message: `${address} is not an address of this machine right now (the kind network is made with the first cluster)`,
        fix: `\`audit-lab up${nameFlag(paths.name)}\` learns the address again when it creates the cluster`,
      };
  }
}

export interface CheckInput {
  tools: Tools;
  paths: LabPaths;
  receiver: ReceiverControl | null;
  state: LabState | null;
  /** The mode `up` is about to use; undefined for doctor, which reports on the lab (if any). */
  mode?: Mode;
  image?: string | null;
  /** Where the receiver will listen; default the lab's, else 127.0.0.1:8845. */
  address?: string;
  port?: number;
  /** Skip the port check (up checks the port once it knows the address). */
  skipPort?: boolean;
}

export async function runChecks(input: CheckInput): Promise<CheckReport> {
  const [docker, kind, kubectl] = await Promise.all([
    checkDocker(input.tools),
    checkKind(input.tools),
    checkKubectl(input.tools),
  ]);
  const findings = [docker.finding, kind.finding, kubectl.finding];
  const mode = input.mode ?? input.state?.mode;
  const image = input.image !== undefined ? input.image : (input.state?.image ?? null);
  let dynamicImage: string | null = null;
  if (mode === 'dynamic') dynamicImage = image;
  else if (image !== null) {
    // A static lab on an old image meets the same cgroup limit.
    const v = parseImageVersion(image);
    if (v.major === 1 && v.minor <= 18) dynamicImage = image;
  }
  const needed = mode === 'dynamic' || dynamicImage !== null;
  // up reports on dynamic mode only when it is the mode at hand; doctor always says what it would need.
  const staticLab = input.mode === undefined && input.state?.mode === 'static' && !needed;
  if (needed || input.mode === undefined)
    findings.push(...dynamicFindings(docker.info, kind.version, { needed, image: dynamicImage, staticLab }));
  if (!input.skipPort) {
    const address = input.address ?? input.state?.receiver.address ?? '127.0.0.1';
    const port = input.port ?? input.state?.receiver.port ?? firstReceiverPort();
    findings.push(await checkPort(input.paths, input.receiver, address, port));
  }
  return {
    ok: findings.every((f) => f.status !== 'fail'),
    findings,
    facts: { docker: docker.info, kindVersion: kind.version, kubectlVersion: kubectl.version },
  };
}

/** The lab's certificates (a lab only): a lost leaf is a warning `up` repairs, a lost CA a failure. */
export async function checkPki(paths: LabPaths): Promise<Finding> {
  const found = await inspectPki(paths.pkiDir);
  const labFlag = nameFlag(paths.name);
  const list = found.issues.map(describePkiIssue).join('; ');
  if (found.absent) {
    return {
      check: 'pki',
      status: 'warn',
      message: `no certificates in ${paths.pkiDir}`,
      fix: `\`audit-lab up${labFlag}\` makes a new CA and gives it to the cluster`,
    };
  }
  if (!found.ca)
    return {
      check: 'pki',
      status: 'fail',
      message: `the lab CA cannot be used: ${list}`,
      fix: caFix(paths.pkiDir, paths.name),
    };
  if (found.issues.length > 0) {
    return {
      check: 'pki',
      status: 'warn',
      message: `the lab's certificates are incomplete: ${list}`,
      fix: `\`audit-lab up${labFlag}\` reissues them from the lab CA`,
    };
  }
  return { check: 'pki', status: 'ok', message: `lab CA and certificates complete in ${paths.pkiDir}` };
}

/** The commands runChecks runs (at once, so in no fixed order). */
export function checkCommands(): string[][] {
  return [
    ['docker', ...dockerArgs.info()],
    ['kind', ...kindArgs.version()],
    ['kubectl', ...kubectlVerbs.clientVersion()],
  ];
}
