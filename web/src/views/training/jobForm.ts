// The new-job form's checks: every number field with the bounds the API validates (training/schemas.py
// Lora, Hyperparameters, Resources, JobCreate), as Vuetify rules and as the list of what keeps Start disabled.

type Translate = (key: string, params?: Record<string, unknown>) => string

export interface Bound {
  min: number
  max: number
  /** min is excluded (learning rate > 0) */
  minExclusive?: boolean
  /** max is excluded (dropout < 1) */
  maxExclusive?: boolean
  integer?: boolean
}

/** The API's bounds for each number field of the form (its `form` key). */
export const BOUNDS = {
  r: { min: 1, max: 512, integer: true },
  alpha: { min: 1, max: 4096, integer: true },
  dropout: { min: 0, max: 1, maxExclusive: true },
  maxSteps: { min: 1, max: 10_000_000, integer: true },
  learningRate: { min: 0, max: 1, minExclusive: true },
  batchSize: { min: 1, max: 4096, integer: true },
  maxSeqLength: { min: 8, max: 131_072, integer: true },
  saveSteps: { min: 1, max: 1_000_000, integer: true },
  gpus: { min: 0, max: 64, integer: true },
  processes: { min: 2, max: 64, integer: true },
  nodes: { min: 1, max: 64, integer: true },
  priority: { min: -100, max: 100, integer: true },
} satisfies Record<string, Bound>
export type NumberField = keyof typeof BOUNDS

/** A registry model name as the API takes it (registry/schemas.py MODEL_NAME_PATTERN): letters (any script)
 * and digits, then also `.`, `_` and `-`. */
const MODEL_NAME = /^[\p{L}\p{N}][\p{L}\p{M}\p{N}._-]*$/u
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/

/** Why a value is not acceptable for `bound` (an i18n sentence), or null when it is. */
export function numberProblem(t: Translate, value: unknown, bound: Bound): string | null {
  if (value === '' || value === null || value === undefined) return t('training.rules.required')
  const n = typeof value === 'number' ? value : Number(value)
  if (!Number.isFinite(n)) return t('training.rules.number')
  if (bound.integer && !Number.isInteger(n)) return t('training.rules.integer')
  const low = bound.minExclusive ? n <= bound.min : n < bound.min
  const high = bound.maxExclusive ? n >= bound.max : n > bound.max
  if (!low && !high) return null
  const min = bound.min.toLocaleString()
  const max = bound.max.toLocaleString()
  if (bound.minExclusive) return t('training.rules.aboveAtMost', { min, max })
  if (bound.maxExclusive) return t('training.rules.atLeastBelow', { min, max })
  return t('training.rules.between', { min, max })
}

/** A Vuetify rule for a number field. */
export const numberRule = (t: Translate, field: NumberField) => (value: unknown) =>
  numberProblem(t, value, BOUNDS[field]) ?? true

/** Why a text is not an acceptable job or sweep name (optional for a job), or null. */
export function nameProblem(t: Translate, value: string | null | undefined, required: boolean): string | null {
  const name = (value ?? '').trim()
  if (!name) return required ? t('training.rules.required') : null
  if (name.length > 200) return t('training.rules.maxLength', { max: 200 })
  if (CONTROL.test(name)) return t('training.rules.control')
  return null
}

/** Why a text is not an acceptable output model name (empty: the default `<base>-ft`), or null. */
export function modelNameProblem(t: Translate, value: string | null | undefined): string | null {
  const name = value ?? ''
  if (!name) return null
  if (name.length > 200) return t('training.rules.maxLength', { max: 200 })
  if (CONTROL.test(name) || !MODEL_NAME.test(name)) return t('training.rules.modelName')
  return null
}

export interface JobFormValues {
  versionId: string | null
  datasetVersionId: string | null
  mode: 'text' | 'prompt' | 'messages'
  text: string | null
  prompt: string | null
  messages: string | null
  method: 'lora' | 'full'
  distributed: 'none' | 'ddp'
  executor: string
  name: string
  outputModel: string
  [key: string]: unknown
}

/** The number fields the form shows for these choices (LoRA's only with LoRA, processes only with DDP ...). */
export function shownNumbers(f: JobFormValues, priority: boolean): NumberField[] {
  const fields: NumberField[] = ['maxSteps', 'learningRate', 'batchSize', 'maxSeqLength', 'saveSteps', 'gpus']
  if (f.method === 'lora') fields.push('r', 'alpha', 'dropout')
  if (f.distributed === 'ddp') fields.push('processes')
  if (f.executor === 'kubernetes') fields.push('nodes')
  if (priority) fields.push('priority')
  return fields
}

/** What keeps the form from being sent, as short phrases for the disabled Start button's note. */
export function missing(t: Translate, f: JobFormValues, labels: Record<NumberField, string>, priority: boolean) {
  const out: string[] = []
  if (!f.versionId) out.push(t('training.missing.baseVersion'))
  if (!f.datasetVersionId) out.push(t('training.missing.datasetVersion'))
  else if (f.mode === 'text' ? !f.text : f.mode === 'prompt' ? !f.prompt : !f.messages)
    out.push(t('training.missing.column'))
  if (nameProblem(t, f.name, false)) out.push(t('training.missing.name'))
  if (modelNameProblem(t, f.outputModel)) out.push(t('training.missing.outputModel'))
  for (const field of shownNumbers(f, priority)) if (numberProblem(t, f[field], BOUNDS[field])) out.push(labels[field])
  return out
}
