/**
 * The names kubectl takes for the built-in resources, as `kubectl api-resources` lists them (the
 * API server's discovery: each resource's plural name, singular name and short names), so that
 * `tail --resource deploy` means what `kubectl get deploy` does. Audit events name a resource by
 * its plural only (objectRef.resource), so every name here maps to that plural.
 *
 * Only the filter (audit/filter.ts) reads this table. A word it does not know is taken as a plural
 * as it stands: a custom resource's plural (CRDs) matches without being listed.
 */

/** plural -> [singular, ...short names], from discovery (Kubernetes 1.30, built-in groups). */
const BUILT_IN: Record<string, readonly string[]> = {
  // core ("")
  bindings: ['binding'],
  componentstatuses: ['componentstatus', 'cs'],
  configmaps: ['configmap', 'cm'],
  endpoints: ['endpoint', 'ep'],
  events: ['event', 'ev'],
  limitranges: ['limitrange', 'limits'],
  namespaces: ['namespace', 'ns'],
  nodes: ['node', 'no'],
  persistentvolumeclaims: ['persistentvolumeclaim', 'pvc'],
  persistentvolumes: ['persistentvolume', 'pv'],
  pods: ['pod', 'po'],
  podtemplates: ['podtemplate'],
  replicationcontrollers: ['replicationcontroller', 'rc'],
  resourcequotas: ['resourcequota', 'quota'],
  secrets: ['secret'],
  serviceaccounts: ['serviceaccount', 'sa'],
  services: ['service', 'svc'],
  // admissionregistration.k8s.io
  mutatingwebhookconfigurations: ['mutatingwebhookconfiguration'],
  validatingwebhookconfigurations: ['validatingwebhookconfiguration'],
  validatingadmissionpolicies: ['validatingadmissionpolicy'],
  validatingadmissionpolicybindings: ['validatingadmissionpolicybinding'],
  // apiextensions.k8s.io, apiregistration.k8s.io
  customresourcedefinitions: ['customresourcedefinition', 'crd', 'crds'],
  apiservices: ['apiservice'],
  // apps
  controllerrevisions: ['controllerrevision'],
  daemonsets: ['daemonset', 'ds'],
  deployments: ['deployment', 'deploy'],
  replicasets: ['replicaset', 'rs'],
  statefulsets: ['statefulset', 'sts'],
  // authentication.k8s.io, authorization.k8s.io
  selfsubjectreviews: ['selfsubjectreview'],
  tokenreviews: ['tokenreview'],
  localsubjectaccessreviews: ['localsubjectaccessreview'],
  selfsubjectaccessreviews: ['selfsubjectaccessreview'],
  selfsubjectrulesreviews: ['selfsubjectrulesreview'],
  subjectaccessreviews: ['subjectaccessreview'],
  // autoscaling, batch
  horizontalpodautoscalers: ['horizontalpodautoscaler', 'hpa'],
  cronjobs: ['cronjob', 'cj'],
  jobs: ['job'],
  // certificates.k8s.io, coordination.k8s.io, discovery.k8s.io
  certificatesigningrequests: ['certificatesigningrequest', 'csr'],
  leases: ['lease'],
  endpointslices: ['endpointslice'],
  // flowcontrol.apiserver.k8s.io
  flowschemas: ['flowschema'],
  prioritylevelconfigurations: ['prioritylevelconfiguration'],
  // networking.k8s.io, node.k8s.io
  ingressclasses: ['ingressclass'],
  ingresses: ['ingress', 'ing'],
  networkpolicies: ['networkpolicy', 'netpol'],
  runtimeclasses: ['runtimeclass'],
  // policy (podsecuritypolicies: removed in 1.25, still in older labs' events)
  poddisruptionbudgets: ['poddisruptionbudget', 'pdb'],
  podsecuritypolicies: ['podsecuritypolicy', 'psp'],
  // rbac.authorization.k8s.io, scheduling.k8s.io
  clusterrolebindings: ['clusterrolebinding'],
  clusterroles: ['clusterrole'],
  rolebindings: ['rolebinding'],
  roles: ['role'],
  priorityclasses: ['priorityclass', 'pc'],
  // storage.k8s.io
  csidrivers: ['csidriver'],
  csinodes: ['csinode'],
  csistoragecapacities: ['csistoragecapacity'],
  storageclasses: ['storageclass', 'sc'],
  volumeattachments: ['volumeattachment'],
  // auditregistration.k8s.io (1.13-1.18, the dynamic mode's AuditSinks)
  auditsinks: ['auditsink'],
};

const PLURAL_OF = new Map<string, string>();
for (const [plural, others] of Object.entries(BUILT_IN)) {
  PLURAL_OF.set(plural, plural);
  for (const name of others) PLURAL_OF.set(name, plural);
}

/**
 * The plural an audit event names for a resource written as kubectl takes it (pod, po, Pods ->
 * pods); any other word unchanged (a CRD's plural, `*`).
 */
export function canonicalResource(name: string): string {
  return PLURAL_OF.get(name.toLowerCase()) ?? name;
}
