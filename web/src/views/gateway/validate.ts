// What the gateway's forms check before they let you submit, with the same limits the API sets
// (gateway/schemas.py), so a refused request is rare and the form says which field is wrong.
import { gpuPricingIncomplete, type Target } from '@/api/gateway'

const blank = (v: unknown) => v === '' || v === null || v === undefined
const inRange = (v: unknown, min: number, max: number, { integer = false, above = false } = {}) => {
  if (blank(v)) return false
  const x = Number(v)
  return Number.isFinite(x) && (above ? x > min : x >= min) && x <= max && (!integer || Number.isInteger(x))
}

/** Empty (the default applies) or a number in range. */
export const optionalInRange = (v: unknown, min: number, max: number, opts = {}) =>
  blank(v) || inRange(v, min, max, opts)

export type TargetProblem = 'provider' | 'model' | 'weight' | 'priority' | 'price' | 'gpu'

/** The fields of one target row the API would refuse. */
export function targetProblems(x: Target): TargetProblem[] {
  const out: TargetProblem[] = []
  if (!x.provider_id) out.push('provider')
  if (!x.model.trim()) out.push('model')
  if (!optionalInRange(x.weight, 0, 1000)) out.push('weight')
  if (!optionalInRange(x.priority, 0, 100, { integer: true })) out.push('priority')
  if (!optionalInRange(x.input_price, 0, 1e12) || !optionalInRange(x.output_price, 0, 1e12)) out.push('price')
  const gpuBad =
    !optionalInRange(x.gpu_hour_price, 0, 1e12, { above: true }) ||
    !optionalInRange(x.gpus, 0, 10_000, { above: true }) ||
    !optionalInRange(x.throughput_tokens_per_s, 0, 1e12, { above: true })
  if (gpuBad || gpuPricingIncomplete(x)) out.push('gpu')
  return out
}

/** Seconds for a provider or a route: more than 0, at most an hour. */
export const timeoutOk = (v: unknown) => inRange(v, 0, 3600, { above: true })

/** A route's largest request: empty (no limit) or a whole number of characters, 1 or more. */
export const maxCharsOk = (v: unknown) => optionalInRange(v, 0, Number.MAX_SAFE_INTEGER, { integer: true, above: true })
