/** The external tools, all over one runner. */
import { Docker } from './docker.js';
import { Kind } from './kind.js';
import { Kubectl } from './kubectl.js';
import type { Runner } from './run.js';

export interface Tools {
  runner: Runner;
  kind: Kind;
  docker: Docker;
  /** kubectl against the cluster of one kubeconfig context (the provider names it). */
  kubectl(context: string): Kubectl;
}

export function makeTools(runner: Runner): Tools {
  return {
    runner,
    kind: new Kind(runner),
    docker: new Docker(runner),
    kubectl: (context) => new Kubectl(runner, context),
  };
}
