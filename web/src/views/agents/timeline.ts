// A run's trace as timeline rows: each step (or group of parallel tool calls) with its offset and length on
// a common scale, so the page can draw latency bars.
import type { Step } from '@/api/agents'

export interface Bar {
  step: Step
  /** Where the bar starts and how long it is, as fractions (0..1) of the run's span. */
  left: number
  width: number
}

export interface Row {
  /** A model call, an answer, one tool call, or tool calls made in parallel (the same parallel_group). */
  kind: Step['kind'] | 'parallel'
  bars: Bar[]
  latencyMs: number
  tokens: number
  cost: number
  errors: number
}

const startOf = (s: Step) => (s.started_at ? Date.parse(s.started_at) : NaN)

export function timelineRows(steps: Step[]): Row[] {
  const ordered = [...steps].sort((a, b) => a.index - b.index)
  // Steps without a start time are laid end to end.
  let cursor = 0
  const t0 = Math.min(...ordered.map(startOf).filter((v) => !Number.isNaN(v)))
  const spans = ordered.map((s) => {
    const latency = Math.max(0, s.latency_ms ?? 0)
    const start = Number.isFinite(t0) && !Number.isNaN(startOf(s)) ? startOf(s) - t0 : cursor
    cursor = Math.max(cursor, start + latency)
    return { step: s, start, latency }
  })
  const total = Math.max(1, ...spans.map((x) => x.start + x.latency))
  const rows: Row[] = []
  for (const span of spans) {
    const bar = { step: span.step, left: span.start / total, width: Math.max(span.latency / total, 0.005) }
    const group = span.step.parallel_group
    const last = rows[rows.length - 1]
    if (
      span.step.kind === 'tool' &&
      group !== null &&
      group !== undefined &&
      last &&
      last.bars[0].step.kind === 'tool' &&
      last.bars[0].step.parallel_group === group
    ) {
      last.kind = 'parallel'
      last.bars.push(bar)
      last.latencyMs = Math.max(last.latencyMs, span.latency)
    } else rows.push({ kind: span.step.kind, bars: [bar], latencyMs: span.latency, tokens: 0, cost: 0, errors: 0 })
    const row = rows[rows.length - 1]
    row.tokens += (span.step.prompt_tokens ?? 0) + (span.step.completion_tokens ?? 0)
    row.cost += span.step.cost ?? 0
    if (span.step.error || span.step.error_kind) row.errors += 1
  }
  return rows
}

/** Totals of a trace: what the header of the timeline says. */
export function traceTotals(steps: Step[]) {
  return {
    steps: steps.length,
    tokens: steps.reduce((n, s) => n + (s.prompt_tokens ?? 0) + (s.completion_tokens ?? 0), 0),
    cost: steps.reduce((n, s) => n + (s.cost ?? 0), 0),
    errors: steps.filter((s) => s.error || s.error_kind).length,
  }
}
