// A/B experiments on a prompt label, their results, and "suggest an improvement" (issue 15); types generated
// from the API's prompts/experiment_schemas.py. The registry calls (prompt, versions) are in prompts.ts.
import { ApiError, type Schemas } from './client'
import { call, failure } from './http'

export type Metric = Schemas['PromptExperimentIn']['metric']
export const METRICS: Metric[] = ['feedback', 'error_rate', 'latency']
export type Variant = Schemas['Variant']
export type VariantResult = Schemas['VariantResult']
export type SeriesPoint = Schemas['SeriesPoint']
/** A test of the control (A) against a challenger (B): method, difference, CI, p-value, verdict, samples needed. */
export type TestResult = Schemas['TestOut']
export type Verdict = TestResult['verdict']
export type Results = Schemas['ResultsOut']
export type Experiment = Schemas['PromptExperimentOut']
export type ExperimentIn = Schemas['PromptExperimentIn']
export type Suggestion = Schemas['SuggestOut']

const enc = encodeURIComponent

async function send<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await call(method, path, body === undefined ? undefined : JSON.stringify(body), body !== undefined)
  if (!response.ok) throw new ApiError(await failure(response))
  return (await response.json()) as T
}

/** The prompt's experiments, newest first (without results). */
export const listExperiments = async (name: string) =>
  (await send<Schemas['PromptExperimentList']>('GET', `/api/prompts/${enc(name)}/experiments`)).items

/** One experiment with its results (reading it also applies its stop rules). */
export const getExperiment = (id: string) => send<Experiment>('GET', `/api/prompts/experiments/${enc(id)}`)

export const createExperiment = (name: string, body: ExperimentIn) =>
  send<Experiment>('POST', `/api/prompts/${enc(name)}/experiments`, body)

export const stopExperiment = (id: string, reason = '') =>
  send<Experiment>('POST', `/api/prompts/experiments/${enc(id)}/stop`, { reason })

/** Moves the label to `version` (default: the winner) and ends the experiment as promoted. */
export const promoteExperiment = (id: string, version?: number) =>
  send<Experiment>('POST', `/api/prompts/experiments/${enc(id)}/promote`, version === undefined ? {} : { version })

/** A candidate template for version `version` written by a gateway route (nothing is saved). */
export const suggest = (name: string, body: Schemas['SuggestIn']) =>
  send<Suggestion>('POST', `/api/prompts/${enc(name)}/suggest`, body)
