/** The JSON the server of `audit-lab ui` answers (its contract), as the page reads it. */

export type AuditEvent = Record<string, unknown>;

export interface SinkMeta {
  name: string;
  level: string;
  stages: string[];
}

export interface Meta {
  lab: string | null;
  source: 'lab' | 'files';
  files: string[];
  mode: 'static' | 'dynamic' | null;
  sinks: SinkMeta[];
  presets: string[];
}

export interface EventItem {
  id: string;
  sink: string | null;
  event: AuditEvent;
}

export interface EventsPage {
  items: EventItem[];
  next: string | null;
  total: number;
  refused: number;
}

export interface RequestAnswer {
  auditID: string;
  stages: { stage: string; time: string; sink: string }[];
  sinks: (SinkMeta & { events: AuditEvent[] })[];
}

export type GroupKey = Record<string, string>;

export interface TopAnswer {
  by: string[];
  rows: { key: GroupKey; events: number; bytes: number; share: number }[];
  series: { t: number[]; groups: { key: GroupKey; events: number[] }[] };
}

export interface PolicyItem {
  id: string;
  rule: number | null;
  level: string;
  description: string;
}

export interface PolicyAnswer {
  items: PolicyItem[];
  totals: unknown;
}
