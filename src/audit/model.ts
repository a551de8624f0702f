/**
 * The audit vocabulary and the sink model, with validation that follows upstream
 * (kubernetes pkg/apis/auditregistration/validation and apimachinery's field errors), so a sink
 * audit-lab accepts is one the API server would have accepted as an AuditSink.
 */
import { UserError } from '../errors.js';

export const LEVELS = ['None', 'Metadata', 'Request', 'RequestResponse'] as const;
export type Level = (typeof LEVELS)[number];

export const STAGES = ['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic'] as const;
export type Stage = (typeof STAGES)[number];

export const DEFAULT_QPS = 10;
export const DEFAULT_BURST = 15;
export const DEFAULT_SINK_NAME = 'default';

export interface Throttle {
  qps: number;
  burst: number;
}

/** A sink as the user describes it; the same shape in both modes. */
export interface SinkSpec {
  name: string;
  level: Level;
  stages: Stage[];
  throttle: Throttle;
  /** An external endpoint to send to instead of, or as well as, the lab receiver. */
  url?: string;
}

/**
 * The one source of a sink's defaults: a field `sink create` is not given takes its value here
 * (lab/sinks.ts applySinkChange), and the sink `up` creates is this one, what the classic
 * walkthrough's AuditSink asked for. A None sink needs no stages.
 */
export const DEFAULT_SINK: Readonly<SinkSpec> = Object.freeze({
  name: DEFAULT_SINK_NAME,
  level: 'Metadata',
  stages: Object.freeze(['ResponseComplete']) as Stage[],
  throttle: Object.freeze({ qps: DEFAULT_QPS, burst: DEFAULT_BURST }),
});

/** The order in which levels include one another; comparing ranks decides coverage. */
export function levelRank(level: Level): number {
  return LEVELS.indexOf(level);
}

export function isLevel(value: string): value is Level {
  return (LEVELS as readonly string[]).includes(value);
}

export function isStage(value: string): value is Stage {
  return (STAGES as readonly string[]).includes(value);
}

/** A JSON object as parsed (not an array, not null): events, their members, a state file. */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** One validation failure: the API field path, the CLI flag that sets it, and upstream's wording. */
export interface FieldError {
  field: string;
  flag: string;
  message: string;
}

// Go's sets.String.List() sorts, and upstream prints the sorted list; keep the same order.
const SORTED_LEVELS = [...LEVELS].sort();
const SORTED_STAGES = [...STAGES].sort();

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_SUBDOMAIN_MAX = 253;

/** apimachinery's IsDNS1123Subdomain: Go's len() counts bytes, and so does this. */
export function dns1123SubdomainErrors(value: string): string[] {
  const errs: string[] = [];
  if (Buffer.byteLength(value, 'utf8') > DNS1123_SUBDOMAIN_MAX) {
    errs.push(`must be no more than ${DNS1123_SUBDOMAIN_MAX} characters`);
  }
  if (!DNS1123_SUBDOMAIN.test(value)) {
    errs.push(
      "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', " +
        "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is " +
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    );
  }
  return errs;
}

const quoteList = (values: readonly string[]) => values.map((v) => JSON.stringify(v)).join(', ');

/**
 * Validates a sink exactly as the AuditSink API did. Input is untyped on purpose: it comes from
 * flags and from a state file a user may have edited.
 */
export function validateSink(input: {
  name: string;
  level: string;
  stages: readonly string[];
  throttle?: { qps?: number; burst?: number };
  url?: string;
}): FieldError[] {
  const errs: FieldError[] = [];
  if (input.name === '') {
    errs.push({ field: 'metadata.name', flag: 'NAME', message: 'Required value: name or generateName is required' });
  } else {
    for (const m of dns1123SubdomainErrors(input.name)) {
      errs.push({
        field: 'metadata.name',
        flag: 'NAME',
        message: `Invalid value: ${JSON.stringify(input.name)}: ${m}`,
      });
    }
  }

  input.stages.forEach((stage, i) => {
    if (!isStage(stage)) {
      errs.push({
        field: `spec.policy.stages[${i}]`,
        flag: '--stage',
        message: `Invalid value: ${JSON.stringify(stage)}: allowed stages are ${SORTED_STAGES.join(',')}`,
      });
    }
  });
  if (input.level === '') {
    errs.push({ field: 'spec.policy.level', flag: '--level', message: 'Required value' });
  } else if (!isLevel(input.level)) {
    errs.push({
      field: 'spec.policy.level',
      flag: '--level',
      message: `Unsupported value: ${JSON.stringify(input.level)}: supported values: ${quoteList(SORTED_LEVELS)}`,
    });
  }
  // Upstream replaces every policy error with this one when a non-None level has no stages.
  if (input.level !== 'None' && input.stages.length === 0) {
    for (let i = errs.length - 1; i >= 0; i--) if (errs[i]!.field.startsWith('spec.policy.')) errs.splice(i, 1);
    errs.push({ field: 'spec.policy.stages', flag: '--stage', message: 'Required value' });
  }

  // Both are *int64 in auditregistration/v1alpha1: the API server cannot even decode 0.5.
  const qps = input.throttle?.qps;
  if (qps !== undefined && !(qps > 0)) {
    errs.push({
      field: 'spec.webhook.throttle.qps',
      flag: '--qps',
      message: `Invalid value: ${qps}: qps must be a positive number`,
    });
  } else if (qps !== undefined && !Number.isSafeInteger(qps)) {
    errs.push({
      field: 'spec.webhook.throttle.qps',
      flag: '--qps',
      message: `Invalid value: ${qps}: qps must be a whole number (an int64)`,
    });
  }
  const burst = input.throttle?.burst;
  if (burst !== undefined && !(burst > 0)) {
    errs.push({
      field: 'spec.webhook.throttle.burst',
      flag: '--burst',
      message: `Invalid value: ${burst}: burst must be a positive number`,
    });
  } else if (burst !== undefined && !Number.isSafeInteger(burst)) {
    errs.push({
      field: 'spec.webhook.throttle.burst',
      flag: '--burst',
      message: `Invalid value: ${burst}: burst must be a whole number (an int64)`,
    });
  }
  if (input.url !== undefined) errs.push(...validateWebhookUrl(input.url));
  return errs;
}

/** The sink as validateSink sees it, refused with every error as `flag: message (field)`. */
export function checkSink(input: Parameters<typeof validateSink>[0]): void {
  const errs = validateSink(input);
  if (errs.length === 0) return;
  const lines = errs.map((e) => `${e.flag}: ${e.message} (${e.field})`);
  throw new UserError(
    lines.length === 1 ? lines[0]! : `invalid sink:\n  ${lines.join('\n  ')}`,
    'see `audit-lab sink create --help`',
  );
}

const URL_FORM = '; desired format: https://host[/path]';

/** Upstream's webhook URL rules: a host, and no user info, query or fragment. */
export function validateWebhookUrl(raw: string): FieldError[] {
  const field = 'spec.webhook.clientConfig.url';
  const flag = '--url';
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return [
      { field, flag, message: `Required value: url must be a valid URL: parse ${JSON.stringify(raw)}${URL_FORM}` },
    ];
  }
  const errs: FieldError[] = [];
  if (u.protocol !== 'https:' && u.protocol !== 'http:') {
    errs.push({
      field,
      flag,
      message: `Invalid value: ${JSON.stringify(u.protocol.replace(/:$/, ''))}: scheme must be https or http${URL_FORM}`,
    });
  }
  if (u.host === '') errs.push({ field, flag, message: `Invalid value: "": host must be specified${URL_FORM}` });
  if (u.username !== '' || u.password !== '') {
    errs.push({ field, flag, message: 'Invalid value: "<redacted>": user information is not permitted in the URL' });
  }
  if (u.hash !== '') {
    errs.push({
      field,
      flag,
      message: `Invalid value: ${JSON.stringify(u.hash.slice(1))}: fragments are not permitted in the URL`,
    });
  }
  if (u.search !== '') {
    errs.push({
      field,
      flag,
      message: `Invalid value: ${JSON.stringify(u.search.slice(1))}: query parameters are not permitted in the URL`,
    });
  }
  return errs;
}

/** Whether a URL's host is this machine by its address or its one fixed name (no lookup). */
function isLoopbackHost(hostname: string): boolean {
  if (hostname === 'localhost' || hostname === '[::1]') return true;
  // WHATWG URLs write every IPv4 form (127.1, 0x7f.1, ...) as a dotted quad.
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/**
 * Why a sink may not forward to this URL in clear text, or null. A forwarded event carries what
 * its level keeps: at Request and RequestResponse a Secret's data, tokens in TokenReviews. Plain
 * http is for a collector on this machine; anywhere else it takes an explicit `--insecure-http`.
 */
export function plainHttpProblem(raw: string): string | null {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return null; // validateWebhookUrl says what is wrong with it
  }
  if (u.protocol !== 'http:' || isLoopbackHost(u.hostname)) return null;
  return `--url: plain http to ${u.host} would send every event in clear text (at Request levels and above, a Secret's data too)`;
}

/** Stages given as repeated and/or comma-separated flags, deduplicated, in the order given. */
export function splitStages(values: readonly string[]): string[] {
  const out: string[] = [];
  for (const v of values) {
    for (const part of v.split(',')) {
      const s = part.trim();
      if (s !== '' && !out.includes(s)) out.push(s);
    }
  }
  return out;
}
