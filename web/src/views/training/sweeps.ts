// Hyperparameter sweeps in the UI: the form's rows of swept settings turned into the API's space
// (values as a comma list, or a min/max range for random search), and what the sweep page shows.
import type { Schemas } from '@/api/client'
import { escapeHtml } from '@/format'

/** The settings the API lets a sweep vary (SweepCreate.space), with the kind of value each takes. */
export const SWEEPABLE = {
  'hyperparameters.learning_rate': 'float',
  'hyperparameters.batch_size': 'int',
  'hyperparameters.max_steps': 'int',
  'hyperparameters.epochs': 'float',
  'hyperparameters.warmup_steps': 'int',
  'hyperparameters.gradient_accumulation_steps': 'int',
  'hyperparameters.lr_scheduler': 'choice',
  'hyperparameters.seed': 'int',
  'lora.r': 'int',
  'lora.alpha': 'int',
  'lora.dropout': 'float',
} as const
export type Setting = keyof typeof SWEEPABLE
export const SETTINGS = Object.keys(SWEEPABLE) as Setting[]
export const LR_SCHEDULERS = ['linear', 'cosine', 'constant', 'constant_with_warmup']
const MAX_VALUES = 100 // per setting, as the API allows
const MAX_SETTINGS = 10

export type Strategy = 'grid' | 'random'
export type Range = Schemas['Range']
export type Trial = Schemas['TrialOut']

/** One swept setting in the form: a list of values, or (random search) a range to sample. */
export interface SweepRow {
  setting: Setting | null
  kind: 'list' | 'range'
  values: string
  min: number | string | null
  max: number | string | null
  log: boolean
}

export interface SweepForm {
  strategy: Strategy
  rows: SweepRow[]
  maxTrials: number
  metric: string
  mode: 'min' | 'max'
  seed: number
}

export const blankRow = (setting: Setting | null = null): SweepRow => ({
  setting,
  kind: 'list',
  values: '',
  min: null,
  max: null,
  log: false,
})
export const blankSweep = (): SweepForm => ({
  strategy: 'grid',
  rows: [blankRow('hyperparameters.learning_rate')],
  maxTrials: 8,
  metric: 'loss',
  mode: 'min',
  seed: 0,
})

/** A form mistake, named by its i18n key (under training.sweepErrors) with the values the message shows. */
export class SweepFormError extends Error {
  constructor(
    public key: string,
    public params: Record<string, unknown> = {},
  ) {
    super(key)
  }
}

/** The setting's name without its section, for column heads: `learning_rate`, `lora.r`. */
export function settingLabel(setting: string): string {
  return setting.startsWith('hyperparameters.') ? setting.slice('hyperparameters.'.length) : setting
}

/** The values each numeric setting may take, as the API validates a trial (training/schemas.py). */
export const SWEEP_BOUNDS: Partial<Record<Setting, { min: number; max: number; above?: boolean; below?: boolean }>> = {
  'hyperparameters.learning_rate': { min: 0, max: 1, above: true },
  'hyperparameters.batch_size': { min: 1, max: 4096 },
  'hyperparameters.max_steps': { min: 1, max: 10_000_000 },
  'hyperparameters.epochs': { min: 0, max: 1000, above: true },
  'hyperparameters.warmup_steps': { min: 0, max: 1_000_000 },
  'hyperparameters.gradient_accumulation_steps': { min: 1, max: 1024 },
  'hyperparameters.seed': { min: 0, max: 2 ** 31 - 1 },
  'lora.r': { min: 1, max: 512 },
  'lora.alpha': { min: 1, max: 4096 },
  'lora.dropout': { min: 0, max: 1, below: true },
}

function number(text: string, setting: Setting, bounded = true): number {
  const value = text === '' ? Number.NaN : Number(text)
  if (!Number.isFinite(value)) throw new SweepFormError('notNumber', { setting: settingLabel(setting), value: text })
  if (SWEEPABLE[setting] === 'int' && !Number.isInteger(value))
    throw new SweepFormError('notInteger', { setting: settingLabel(setting), value: text })
  return bounded ? inBounds(value, text, setting) : value
}

/** The value, when the API accepts it for this setting (else the form mistake that says the bounds). */
function inBounds(value: number, text: string, setting: Setting): number {
  const bound = SWEEP_BOUNDS[setting]
  if (bound) {
    const low = bound.above ? value <= bound.min : value < bound.min
    const high = bound.below ? value >= bound.max : value > bound.max
    if (low || high)
      throw new SweepFormError(bound.above ? 'outOfRangeAbove' : bound.below ? 'outOfRangeBelow' : 'outOfRange', {
        setting: settingLabel(setting),
        value: text,
        min: bound.min,
        max: bound.max,
      })
  }
  return value
}

/** "0.0001, 0.001,0.01" → [0.0001, 0.001, 0.01]: numbers for numeric settings (whole ones where the
 * setting takes whole numbers), known names for the scheduler; empty items skipped, repeats dropped. */
export function parseValues(text: string, setting: Setting): (number | string)[] {
  const items = text
    .split(/[,;\n]/)
    .map((s) => s.trim())
    .filter(Boolean)
  if (!items.length) throw new SweepFormError('noValues', { setting: settingLabel(setting) })
  const values = items.map((item) => {
    if (SWEEPABLE[setting] !== 'choice') return number(item, setting)
    if (!LR_SCHEDULERS.includes(item))
      throw new SweepFormError('notChoice', {
        setting: settingLabel(setting),
        value: item,
        choices: LR_SCHEDULERS.join(', '),
      })
    return item
  })
  const unique = [...new Set(values)]
  if (unique.length > MAX_VALUES)
    throw new SweepFormError('tooManyValues', { setting: settingLabel(setting), max: MAX_VALUES })
  return unique
}

/** A row as the API's Range: `{values}`, or `{min, max, log, integer}` (random search only). */
export function toRange(row: SweepRow, strategy: Strategy): Range {
  const setting = row.setting
  if (!setting) throw new SweepFormError('noSetting')
  if (row.kind === 'list') return { values: parseValues(row.values, setting), log: false, integer: false }
  const label = settingLabel(setting)
  if (SWEEPABLE[setting] === 'choice') throw new SweepFormError('rangeNotNumeric', { setting: label })
  if (strategy === 'grid') throw new SweepFormError('rangeNeedsRandom', { setting: label })
  const minText = String(row.min ?? '').trim()
  const maxText = String(row.max ?? '').trim()
  const min = number(minText, setting, false)
  const max = number(maxText, setting, false)
  if (min > max) throw new SweepFormError('minAboveMax', { setting: label })
  if (row.log && min <= 0) throw new SweepFormError('logNeedsPositive', { setting: label })
  inBounds(min, minText, setting)
  inBounds(max, maxText, setting)
  return { min, max, log: row.log, integer: SWEEPABLE[setting] === 'int' }
}

/** The rows as SweepCreate.space: every setting once. */
export function toSpace(rows: SweepRow[], strategy: Strategy): Record<string, Range> {
  if (!rows.length) throw new SweepFormError('noRows')
  if (rows.length > MAX_SETTINGS) throw new SweepFormError('tooManySettings', { max: MAX_SETTINGS })
  const space: Record<string, Range> = {}
  for (const row of rows) {
    if (row.setting && row.setting in space)
      throw new SweepFormError('duplicate', { setting: settingLabel(row.setting) })
    space[row.setting ?? ''] = toRange(row, strategy)
  }
  return space
}

/** How many trials the sweep will make: the grid's combinations up to max_trials, or max_trials draws;
 * null while the rows do not parse. */
export function trialCount(form: SweepForm): number | null {
  try {
    const space = toSpace(form.rows, form.strategy)
    if (form.strategy === 'random') return form.maxTrials
    const combos = Object.values(space).reduce((n, r) => n * (r.values?.length ?? 1), 1)
    return Math.min(combos, form.maxTrials)
  } catch {
    return null
  }
}

/** The POST /api/training/sweep/create body: the job form's body as the trial template, plus the search. */
export function sweepBody(name: string, job: Schemas['JobCreate'], form: SweepForm): Schemas['SweepCreate'] {
  if (!name.trim()) throw new SweepFormError('noName')
  if (!form.metric.trim()) throw new SweepFormError('noMetric')
  if (!Number.isInteger(form.maxTrials) || form.maxTrials < 1 || form.maxTrials > 100)
    throw new SweepFormError('maxTrials')
  return {
    name: name.trim(),
    job: { ...job, name: null },
    space: toSpace(form.rows, form.strategy),
    strategy: form.strategy,
    max_trials: form.maxTrials,
    metric: form.metric.trim(),
    mode: form.mode,
    seed: Number.isInteger(form.seed) && form.seed >= 0 ? form.seed : 0,
  }
}

/** The runs to compare for a sweep (the compare page takes at most 20): the best first. */
export function compareRunIds(trials: Trial[], mode: string, max = 20): string[] {
  const withRun = trials.filter((t) => t.run_id)
  const scored = withRun
    .filter((t) => t.value != null)
    .sort((a, b) => (mode === 'max' ? b.value! - a.value! : a.value! - b.value!))
  const rest = withRun.filter((t) => t.value == null)
  return [...scored, ...rest].slice(0, max).map((t) => t.run_id!)
}

/** The chart of the metric per trial: a point per trial that has a value (x: its number), the best one larger and in its own colour. */
export function valueChart(
  trials: Trial[],
  bestJobId: string | null | undefined,
  metric: string,
  colors: { point: string; best: string },
) {
  return {
    animation: false,
    grid: { left: 56, right: 16, top: 28, bottom: 36 },
    tooltip: {
      trigger: 'item',
      formatter: (p: { data: { value: [number, number] } }) =>
        `#${p.data.value[0]}: ${escapeHtml(metric)} ${escapeHtml(p.data.value[1])}`,
    },
    xAxis: {
      type: 'value',
      min: 0,
      max: trials.length + 1,
      interval: 1,
      splitLine: { show: false },
      axisLabel: { formatter: (v: number) => (v >= 1 && v <= trials.length ? `#${v}` : '') },
    },
    yAxis: { type: 'value', name: metric, scale: true },
    series: [
      {
        type: 'scatter',
        name: metric,
        data: trials.flatMap((t, i) =>
          t.value == null
            ? []
            : [
                {
                  value: [i + 1, t.value],
                  symbolSize: t.job_id === bestJobId ? 16 : 10,
                  itemStyle: { color: t.job_id === bestJobId ? colors.best : colors.point },
                },
              ],
        ),
      },
    ],
  }
}
