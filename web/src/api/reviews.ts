// Human review queues from the browser (/api/eval/reviews): queues made from a run's rows or a sample of gateway
// traffic, the next item to label, labels, agreement between annotators (and with the run's judge) and export.
// Types generated from evaluation/review_schemas.py. What an annotator receives names no target: outputs are "1"
// and "2".
import { apiError, type ApiError, type Problem, type Schemas } from './client'
import { call } from './http'

export type Queue = Schemas['QueueOut']
export type QueueCreate = Schemas['QueueCreate']
export type Criterion = Schemas['Criterion']
export type Mode = Queue['mode']
export type Source = Queue['source']
export const MODES: Mode[] = ['likert', 'pairwise']
export type RowChoice = Schemas['RunSample']['rows']
export const ROW_CHOICES: RowChoice[] = ['all', 'sample', 'disagree']
export type TargetKey = NonNullable<Schemas['RunSample']['targets']>[number]
export const TARGET_KEYS: TargetKey[] = ['A', 'B', 'C', 'D']
export const isTargetKey = (key: string): key is TargetKey => (TARGET_KEYS as string[]).includes(key)
export type Progress = Schemas['Progress']
export type Annotator = Schemas['Annotator']
export type Label = Schemas['LabelOut']
export type LabelIn = Schemas['LabelIn']
/** A pairwise choice as the annotator sees it: output 1, output 2, or a tie. */
export type Choice = Label['choices'][string]
/** One item as an annotator sees it: outputs "1" (and "2"), never which target wrote them. */
export type Item = Schemas['ItemOut']
export type NextItem = Schemas['NextOut']
export type Reviewer = Schemas['Reviewer']
export type PairAgreement = Schemas['PairAgreement']
export type CriterionAgreement = Schemas['CriterionAgreement']
export type JudgeNote = 'no_run' | 'no_judge' | 'scale_differs'

export type ReviewError = ApiError & { problem: Problem | null }

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await call(method, path, body === undefined ? undefined : JSON.stringify(body), body !== undefined)
  if (!response.ok) {
    const problem = (await response.json().catch(() => null)) as Problem | null
    const error = apiError(problem, response.status) as ReviewError
    error.problem = problem
    throw error
  }
  return (response.status === 204 ? undefined : await response.json()) as T
}

const base = '/api/eval/reviews'
const path = (id: string) => `${base}/${encodeURIComponent(id)}`

export function listQueues(params: { status?: string; run_id?: string } = {}, cursor?: string | null, limit = 50) {
  const search = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) if (v) search.set(k, v)
  if (cursor) search.set('cursor', cursor)
  search.set('limit', String(limit))
  return request<Schemas['QueueList']>('GET', `${base}?${search}`)
}
export const getQueue = (id: string) => request<Queue>('GET', path(id))
export const createQueue = (body: QueueCreate) => request<Queue>('POST', base, body)
export const closeQueue = (id: string) => request<Queue>('POST', `${path(id)}/close`)
export const deleteQueue = (id: string) => request<void>('DELETE', path(id))
export const listReviewers = () => request<Schemas['ReviewerList']>('GET', `${base}/reviewers`)

/** The next item the caller has not labelled, looking after `after` first (then from the start). */
export const nextItem = (id: string, after?: number | null) =>
  request<NextItem>('GET', `${path(id)}/next${after === undefined || after === null ? '' : `?after=${after}`}`)
export const itemAt = (id: string, position: number) => request<Item>('GET', `${path(id)}/items/${position}`)
export const putLabel = (id: string, itemId: string, body: LabelIn) =>
  request<Label>('PUT', `${path(id)}/items/${encodeURIComponent(itemId)}/label`, body)
export const getAgreement = (id: string) => request<Schemas['AgreementOut']>('GET', `${path(id)}/agreement`)

/** The labels with their items, targets named: JSONL (one item per line) or CSV (one label per row). */
export async function exportLabels(id: string, format: 'jsonl' | 'csv'): Promise<Blob> {
  const response = await call('GET', `${path(id)}/export?format=${format}`)
  if (!response.ok) {
    const problem = (await response.json().catch(() => null)) as Problem | null
    throw apiError(problem, response.status)
  }
  return response.blob()
}

/** Progress as a fraction 0..1 (0 for an empty queue). */
export const fraction = (done: number, total: number) => (total > 0 ? Math.min(1, done / total) : 0)
