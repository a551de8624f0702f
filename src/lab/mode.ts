import { UserError } from '../errors.js';

export type Mode = 'static' | 'dynamic';
export type ModeChoice = Mode | 'auto';

/** kind v0.11.1's node image for 1.18, by digest: node images are tied to the kind that built them. */
export const DEFAULT_DYNAMIC_IMAGE =
  'kindest/node:v1.18.19@sha256:7af1492e19b3192a79f606e43c35fb741e520d195f96399284515f077b3b622c';

export interface KubeVersion {
  major: number;
  minor: number;
  patch: number | null;
  /** As written in the tag, without the leading "v". */
  text: string;
}

/**
 * The Kubernetes version a node image carries in its tag. Handles registries with ports
 * (`localhost:5000/kindest/node:v1.30.0`) and digests (`...:v1.18.19@sha256:...`).
 */
export function parseImageVersion(image: string): KubeVersion {
  const withoutDigest = image.split('@')[0] ?? '';
  const lastSlash = withoutDigest.lastIndexOf('/');
  const lastPart = withoutDigest.slice(lastSlash + 1);
  const colon = lastPart.lastIndexOf(':');
  const tag = colon >= 0 ? lastPart.slice(colon + 1) : '';
  const v = parseVersionText(tag);
  if (!v) {
    throw new UserError(
      tag === ''
        ? `--image ${JSON.stringify(image)} has no tag: audit-lab reads the Kubernetes version from the tag`
        : `--image ${JSON.stringify(image)}: tag ${JSON.stringify(tag)} is not a Kubernetes version`,
      'give a kind node image tagged with its version, e.g. kindest/node:v1.31.0 (add @sha256:... to pin it)',
    );
  }
  return v;
}

/** A Kubernetes version as written (`v1.18.19`, `1.37.2`), or null when it is not one. */
export function parseVersionText(text: string): KubeVersion | null {
  const m = /^v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-+][0-9A-Za-z.+-]*)?$/.exec(text);
  if (!m) return null;
  return {
    major: Number(m[1]),
    minor: Number(m[2]),
    patch: m[3] === undefined ? null : Number(m[3]),
    text: text.replace(/^v/, ''),
  };
}

/** DynamicAuditing existed from 1.13 (alpha) until its removal in 1.19 (kubernetes PR #91502). */
export function supportsDynamic(v: KubeVersion): boolean {
  return v.major === 1 && v.minor >= 13 && v.minor <= 18;
}

export interface ModeSelection {
  mode: Mode;
  /** The image to pass to kind, or null for kind's own default. */
  image: string | null;
  kubernetesVersion: string | null;
}

export function selectMode(choice: ModeChoice, image: string | undefined): ModeSelection {
  const version = image === undefined ? null : parseImageVersion(image);
  switch (choice) {
    case 'auto':
      if (version && supportsDynamic(version))
        return { mode: 'dynamic', image: image!, kubernetesVersion: version.text };
      return { mode: 'static', image: image ?? null, kubernetesVersion: version?.text ?? null };
    case 'static':
      return { mode: 'static', image: image ?? null, kubernetesVersion: version?.text ?? null };
    case 'dynamic': {
      if (!version) {
        const v = parseImageVersion(DEFAULT_DYNAMIC_IMAGE);
        return { mode: 'dynamic', image: DEFAULT_DYNAMIC_IMAGE, kubernetesVersion: v.text };
      }
      if (!supportsDynamic(version)) {
        const why =
          version.major > 1 || version.minor >= 19
            ? `the DynamicAuditing feature gate and the AuditSink API (auditregistration.k8s.io/v1alpha1) were removed in Kubernetes 1.19, and ${JSON.stringify(image)} is ${version.text}`
            : `the AuditSink API first appeared in Kubernetes 1.13, and ${JSON.stringify(image)} is ${version.text}`;
        throw new UserError(
          `--mode dynamic: ${why}`,
          `use --mode static (same commands, works on every version), or a 1.13-1.18 image such as ${DEFAULT_DYNAMIC_IMAGE}`,
        );
      }
      return { mode: 'dynamic', image: image!, kubernetesVersion: version.text };
    }
  }
}

/**
 * The mode of a control plane run from binaries (`up --provider binary`): the version is the
 * binaries', so there is no image; dynamic mode needs 1.13-1.18 as it does on kind.
 */
export function selectBinaryMode(choice: ModeChoice, version: string): ModeSelection {
  const v = parseVersionText(version);
  if (!v || v.patch === null) {
    throw new UserError(
      `--kubernetes-version ${JSON.stringify(version)} is not a Kubernetes release version`,
      'give one such as v1.37.2 (static mode) or v1.18.19 (dynamic mode)',
    );
  }
  const dynamic = supportsDynamic(v);
  if (choice === 'dynamic' && !dynamic) {
    throw new UserError(
      `--mode dynamic: the DynamicAuditing feature gate and the AuditSink API exist only in Kubernetes 1.13-1.18, and these binaries are ${v.text}`,
      'use --mode static (same commands, every version), or --kubernetes-version v1.18.19',
    );
  }
  const mode: Mode = choice === 'static' || !dynamic ? 'static' : 'dynamic';
  return { mode, image: null, kubernetesVersion: v.text };
}
