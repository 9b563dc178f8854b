// A/B experiments on a prompt label, their results, and "suggest an improvement" (issue 15).
// Typed by hand after prompts/experiment_schemas.py until `make openapi` adds these routes to schema.d.ts.
import { ApiError } from './client'
import { call, failure } from './http'

export type Metric = 'feedback' | 'error_rate' | 'latency'
export const METRICS: Metric[] = ['feedback', 'error_rate', 'latency']
export type Verdict = 'b_better' | 'a_better' | 'no_difference_yet'
export type ExperimentStatus = 'running' | 'stopped' | 'promoted'

export interface Variant {
  version: number
  weight: number
}

export interface VariantResult extends Variant {
  requests: number
  errors: number
  error_rate: number | null
  latency_p50: number | null
  latency_p95: number | null
  prompt_tokens: number
  completion_tokens: number
  cost: number
  feedback_count: number
  feedback_mean: number | null
  feedback_ci: [number, number] | null
}

/** One hour of one variant's traffic. */
export interface SeriesPoint {
  ts: string
  version: number
  requests: number
  errors: number
  latency_p50?: number | null
  feedback_count?: number
  feedback_mean?: number | null
}

export interface TestResult {
  metric: Metric
  method: string
  control_version: number
  variant_version: number
  difference: number | null
  ci: [number, number] | null
  p_value: number | null
  alpha: number
  verdict: Verdict
  /** Samples per variant for 80% power at the observed effect. */
  needed_per_variant: number | null
  /** How many more the smaller variant needs. */
  remaining_per_variant?: number | null
}

export interface Results {
  variants: VariantResult[]
  series: SeriesPoint[]
  /** The control against the best challenger. */
  test: TestResult | null
  tests?: TestResult[]
  samples?: number
}

export interface Experiment {
  id: string
  prompt_name?: string
  label: string
  name: string
  status: ExperimentStatus | string
  variants: Variant[]
  metric: Metric
  max_duration_s: number | null
  max_samples: number | null
  auto_promote: boolean
  started_at: string
  ended_at: string | null
  ended_reason: string | null
  winner_version: number | null
  created_by_name?: string | null
  results?: Results | null
}

export interface ExperimentIn {
  label: string
  name: string
  variants: Variant[]
  metric: Metric
  max_duration_s?: number | null
  max_samples?: number | null
  auto_promote: boolean
}

export type ChatMessage = { role: string; content: string }
export type Template = string | ChatMessage[]

/** What a version is made of (VersionIn), as far as this UI reads and writes it. */
export interface VersionBody {
  kind: 'text' | 'chat'
  template: Template
  variables: unknown[]
  binding: Record<string, unknown>
  message: string
}

export interface VersionInfo extends VersionBody {
  version: number
  labels: string[]
}

export interface PromptInfo {
  name: string
  latest_version: number
  labels: Record<string, number>
}

export interface Suggestion {
  candidate: { kind: 'text' | 'chat'; template: Template }
  explanation: string
  diff: { op: ' ' | '+' | '-'; text: string; message_index?: number | null }[]
  base_version?: number
  route?: string
}

const enc = encodeURIComponent

async function send<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await call(method, path, body === undefined ? undefined : JSON.stringify(body), body !== undefined)
  if (!response.ok) throw new ApiError(await failure(response))
  return (response.status === 204 ? undefined : await response.json()) as T
}

export const listExperiments = async (name: string) =>
  (await send<{ items: Experiment[] }>('GET', `/api/prompts/${enc(name)}/experiments`)).items

export const getExperiment = (id: string) => send<Experiment>('GET', `/api/prompts/experiments/${enc(id)}`)

export const createExperiment = (name: string, body: ExperimentIn) =>
  send<Experiment>('POST', `/api/prompts/${enc(name)}/experiments`, body)

export const stopExperiment = (id: string, reason = '') =>
  send<Experiment>('POST', `/api/prompts/experiments/${enc(id)}/stop`, { reason })

/** Moves the label to `version` (default: the winner) and ends the experiment as promoted. */
export const promoteExperiment = (id: string, version?: number) =>
  send<Experiment>('POST', `/api/prompts/experiments/${enc(id)}/promote`, version === undefined ? {} : { version })

export const getPrompt = (name: string) => send<PromptInfo>('GET', `/api/prompts/${enc(name)}`)

export const listVersions = async (name: string) =>
  (await send<{ items: VersionInfo[] }>('GET', `/api/prompts/${enc(name)}/versions?limit=100`)).items

export const getVersion = (name: string, version: number) =>
  send<VersionInfo>('GET', `/api/prompts/${enc(name)}/versions/${version}`)

export const suggest = (name: string, body: { version: number; route: string; goal?: string }) =>
  send<Suggestion>('POST', `/api/prompts/${enc(name)}/suggest`, body)

export const createVersion = (name: string, body: VersionBody) =>
  send<VersionInfo>('POST', `/api/prompts/${enc(name)}/versions`, body)
