// The pure parts of the A/B test pages: the traffic split, the setup form's checks, how results read.
import type { Metric, SeriesPoint, TestResult, Variant } from '@/api/promptExperiments'
import { formProblems, type RuleResult } from '@/views/admin/formCheck'

export const MIN_VARIANTS = 2
export const MAX_VARIANTS = 4
export const LETTERS = ['A', 'B', 'C', 'D']

export type DurationUnit = 'hours' | 'days'
const UNIT_SECONDS: Record<DurationUnit, number> = { hours: 3600, days: 86400 }

/** A variant row as the form edits it: a version (none chosen yet: null) and a weight as typed. */
export interface VariantRow {
  version: number | null
  weight: number | string
}

export interface SetupForm {
  /** Labels with a test running already (one per label). */
  busy?: string[]
  name: string
  label: string | null
  variants: VariantRow[]
  metric: Metric
  duration: number | string
  durationUnit: DurationUnit
  maxSamples: number | string
  autoPromote: boolean
}

const weightOf = (w: number | string) => {
  const n = typeof w === 'number' ? w : w.trim() === '' ? NaN : Number(w)
  return Number.isFinite(n) && n > 0 ? n : 0
}

/** Each variant's share of the traffic in percent (one decimal), from weights as typed; unusable weights get 0. */
export function splitPercents(weights: (number | string)[]): number[] {
  const values = weights.map(weightOf)
  const total = values.reduce((a, b) => a + b, 0)
  return values.map((v) => (total > 0 ? Math.round((v / total) * 1000) / 10 : 0))
}

export const blank = (n: number | string) => n === '' || n === null || n === undefined

/** What keeps the setup form from being sent, as SubmitHint lists it (empty: it can be sent). */
export function setupProblems(form: SetupForm, t: (key: string, params?: Record<string, unknown>) => string): string[] {
  const versions = form.variants.map((v) => v.version)
  const chosen = versions.filter((v): v is number => v !== null)
  const positive = (v: number | string): RuleResult => blank(v) || weightOf(v) > 0 || t('promptAb.setup.positive')
  const wholePositive = (v: number | string): RuleResult =>
    blank(v) || (Number.isInteger(Number(v)) && Number(v) > 0) || t('rules.positiveInt')
  const minute = (v: number | string): RuleResult =>
    blank(v) || weightOf(v) * UNIT_SECONDS[form.durationUnit] >= 60 || t('promptAb.setup.minDuration')
  return formProblems([
    [
      t('promptAb.setup.name'),
      form.name.trim() !== '' || t('rules.required'),
      form.name.trim().length <= 200 || t('rules.maxLength', { n: 200 }),
    ],
    [
      t('promptAb.setup.label'),
      !!form.label || t('rules.required'),
      !form.label || !form.busy?.includes(form.label) || t('promptAb.setup.labelBusy'),
    ],
    [
      t('promptAb.setup.variants'),
      (form.variants.length >= MIN_VARIANTS && form.variants.length <= MAX_VARIANTS) ||
        t('promptAb.setup.variantCount', { min: MIN_VARIANTS, max: MAX_VARIANTS }),
      chosen.length === versions.length || t('promptAb.setup.pickVersion'),
      new Set(chosen).size === chosen.length || t('promptAb.setup.sameVersion'),
      form.variants.every((v) => weightOf(v.weight) > 0) || t('promptAb.setup.weightPositive'),
    ],
    [t('promptAb.setup.maxDuration'), positive(form.duration), minute(form.duration)],
    [
      t('promptAb.setup.maxSamples'),
      wholePositive(form.maxSamples),
      blank(form.maxSamples) || Number(form.maxSamples) >= 2 || t('rules.min', { n: 2 }),
    ],
  ])
}

/** The request body of a valid form. */
export function setupBody(form: SetupForm) {
  return {
    label: form.label!,
    name: form.name.trim(),
    variants: form.variants.map((v) => ({ version: v.version!, weight: weightOf(v.weight) })) as Variant[],
    metric: form.metric,
    max_duration_s: blank(form.duration) ? null : Math.round(Number(form.duration) * UNIT_SECONDS[form.durationUnit]),
    max_samples: blank(form.maxSamples) ? null : Number(form.maxSamples),
    auto_promote: form.autoPromote,
  }
}

/** Whether a larger value of the metric is the better one (feedback scores) or the smaller (errors, latency). */
export const higherIsBetter = (metric: Metric) => metric === 'feedback'

/** The verdict's version: B when B is better, A when A is, none while there is no difference yet. */
export function winnerOf(test: TestResult | null | undefined): number | null {
  if (!test) return null
  if (test.verdict === 'b_better') return test.variant_version
  if (test.verdict === 'a_better') return test.control_version
  return null
}

/** A p-value as people read it: "0.031", "< 0.001". */
export function formatP(p: number): string {
  if (p < 0.001) return '< 0.001'
  return p.toFixed(3)
}

/** A p-value as a chance in percent for the plain-language line ("3.1%", "42%"); null under 1% (said in words). */
export function chancePercent(p: number): string | null {
  const pct = p * 100
  if (pct < 1) return null
  return `${pct >= 10 ? Math.round(pct) : Math.round(pct * 10) / 10}%`
}

/** A value of the metric with its unit: scores with 3 decimals, rates in %, latency in ms. */
export function formatMetric(metric: Metric, value: number | null | undefined, signed = false): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—'
  const sign = signed && value > 0 ? '+' : ''
  if (metric === 'error_rate') return `${sign}${(value * 100).toFixed(2)}%`
  if (metric === 'latency') return `${sign}${Math.round(value)} ms`
  return `${sign}${value.toFixed(3)}`
}

/** The hours of the series in order, and per version the value of each hour (0 where it had none). */
export function hourly(
  series: SeriesPoint[],
  versions: number[],
  value: (p: SeriesPoint) => number | null,
): { hours: string[]; data: Map<number, (number | null)[]> } {
  const hours = [...new Set(series.map((p) => p.ts))].sort()
  const index = new Map(hours.map((h, i) => [h, i]))
  const data = new Map(versions.map((v) => [v, hours.map(() => null as number | null)]))
  for (const p of series) {
    const row = data.get(p.version)
    if (row) row[index.get(p.ts)!] = value(p)
  }
  return { hours, data }
}
