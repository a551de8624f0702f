/**
 * One request by auditID: its stages on a timeline, the fullest event as a tree, and the request as each sink recorded
 * it, side by side, with what each sink's level or stages left out marked.
 */
import { useEffect, useState } from 'preact/hooks';
import { getJson, isAbort } from './api';
import { cut, str } from './text';
import { EventTree } from './tree';
import type { AuditEvent, RequestAnswer, SinkMeta } from './types';

const LEVEL_RANK: Record<string, number> = { None: 0, Metadata: 1, Request: 2, RequestResponse: 3 };
const STAGE_ORDER = ['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic'];

/** What a sink at `level` leaves out of every event it records. */
export function omittedAt(level: string): { field: string; why: string }[] {
  const rank = LEVEL_RANK[level] ?? 3;
  const out: { field: string; why: string }[] = [];
  if (rank < 2) out.push({ field: 'requestObject', why: `left out at level ${level}` });
  if (rank < 3) out.push({ field: 'responseObject', why: `left out at level ${level}` });
  return out;
}

function absentIn(e: AuditEvent, level: string) {
  return omittedAt(level).filter((o) => !(o.field in e));
}

function fullest(a: RequestAnswer): AuditEvent | undefined {
  let best: { e: AuditEvent; score: number } | undefined;
  for (const s of a.sinks) {
    for (const e of s.events) {
      const score = (LEVEL_RANK[str(e.level)] ?? 0) * 10 + STAGE_ORDER.indexOf(str(e.stage));
      if (!best || score > best.score) best = { e, score };
    }
  }
  return best?.e;
}

function Timeline(p: { stages: RequestAnswer['stages'] }) {
  const times = p.stages.map((s) => Date.parse(s.time)).filter((t) => !Number.isNaN(t));
  const t0 = times.length ? Math.min(...times) : 0;
  const span = Math.max(1, (times.length ? Math.max(...times) : 0) - t0);
  const sorted = [...p.stages].sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
  return (
    <ol class="timeline" aria-label="stages">
      {sorted.map((s, i) => {
        const t = Date.parse(s.time);
        const at = Number.isNaN(t) ? 0 : t - t0;
        return (
          <li key={i} class="stage">
            <span class="bar">
              <span class="mark" style={{ left: `${(at / span) * 100}%` }} />
            </span>
            <span class="stage-name">{cut(s.stage, 40)}</span> <span class="stage-time">{cut(s.time, 40)}</span>{' '}
            <span class="stage-delta">+{at} ms</span> <span class="stage-sink">({cut(s.sink, 60)})</span>
          </li>
        );
      })}
    </ol>
  );
}

function SinkColumn(p: { sink: SinkMeta & { events: AuditEvent[] }; allStages: string[] }) {
  const s = p.sink;
  const seen = new Set(s.events.map((e) => str(e.stage)));
  const missing = p.allStages.filter((st) => !seen.has(st));
  return (
    <div class="sink-col" data-sink={s.name}>
      <h3>
        {cut(s.name, 80)} <span class="level">{cut(s.level, 30)}</span>
      </h3>
      <div class="sink-stages">stages: {s.stages.map((x) => cut(x, 30)).join(', ') || '(none)'}</div>
      {missing.map((st) => (
        <div key={st} class="omitted">
          stage {st} not recorded by this sink
        </div>
      ))}
      {s.events.map((e, i) => (
        <div key={i} class="sink-event">
          <div class="sink-event-stage">{cut(str(e.stage), 40)}</div>
          <EventTree event={e} absent={absentIn(e, s.level)} />
        </div>
      ))}
    </div>
  );
}

export function RequestView(p: { id: string }) {
  const [answer, setAnswer] = useState<RequestAnswer | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    const ac = new AbortController();
    setAnswer(null);
    setError('');
    getJson<RequestAnswer>(`/api/request/${encodeURIComponent(p.id)}`, ac.signal).then(setAnswer, (e: unknown) => {
      if (!isAbort(e)) setError(e instanceof Error ? e.message : String(e));
    });
    return () => ac.abort();
  }, [p.id]);
  if (error) return <p class="error">{error}</p>;
  if (!answer) return <p class="status">loading request {cut(p.id, 100)}…</p>;
  const event = fullest(answer);
  const allStages = [...new Set(answer.stages.map((s) => s.stage))];
  return (
    <section class="view request">
      <h2>
        request <span class="audit-id">{cut(answer.auditID, 200)}</span>
      </h2>
      <Timeline stages={answer.stages} />
      <h3>event</h3>
      {event ? <EventTree event={event} /> : <p>no event</p>}
      <h3>as each sink recorded it</h3>
      <div class="sinks">
        {answer.sinks.map((s) => (
          <SinkColumn key={s.name} sink={s} allStages={allStages} />
        ))}
      </div>
    </section>
  );
}
