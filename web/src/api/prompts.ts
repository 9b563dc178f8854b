// The prompt registry from the browser (/api/prompts): prompts, their immutable versions, labels,
// diffs, the editor's live check and rendering (types generated from the API's prompts/schemas.py).
import { apiError, type ApiError, type Problem, type Schemas } from './client'
import { call } from './http'

export const VARIABLE_TYPES = ['string', 'number', 'integer', 'boolean', 'list', 'object'] as const
export type VariableType = (typeof VARIABLE_TYPES)[number]
export const ROLES = ['system', 'user', 'assistant', 'developer'] as const
export type Role = (typeof ROLES)[number]
export type PromptKind = 'text' | 'chat'
/** Labels offered first; any name matching LABEL_NAME is allowed. */
export const COMMON_LABELS = ['production', 'staging']
export const LABEL_NAME = /^[a-z][a-z0-9_-]{0,63}$/
export const VARIABLE_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/

export type Variable = Schemas['PromptVariable']
export type TemplateMessage = Schemas['PromptMessage']
export type Template = string | TemplateMessage[]
export type Parameters = Schemas['PromptParameters']
export type Binding = Schemas['PromptBinding']
export type VersionIn = Schemas['PromptVersionCreate']
export type Prompt = Schemas['PromptOut']
export type PromptVersion = Schemas['PromptVersionOut']
export type LabelOut = Schemas['PromptLabelOut']
export type LabelMove = Schemas['PromptLabelMoveOut']
export type DiffLine = Schemas['PromptDiffLine']
export type Diff = Schemas['PromptDiffOut']
export type TemplateProblem = Schemas['PromptCheckError']
export type CheckResult = Schemas['PromptCheckOut']
export type Rendered = Schemas['PromptRenderOut']
export type PromptCreate = Schemas['PromptCreate']
export type RenderRequest = Schemas['PromptRenderIn']

export interface Page<T> {
  items: T[]
  next_cursor?: string | null
  total?: number | null
}

export interface PromptQuery {
  q?: string
  tag?: string
  label?: string
  team_id?: string
  include_archived?: boolean
}

/** A failed call: the translated message, plus the problem body (its extensions: line, column, variable…). */
export type PromptError = ApiError & { problem: Problem | null }

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await call(method, path, body === undefined ? undefined : JSON.stringify(body), body !== undefined)
  if (!response.ok) {
    const problem = (await response.json().catch(() => null)) as Problem | null
    const error = apiError(problem, response.status) as PromptError
    error.problem = problem
    throw error
  }
  return (response.status === 204 ? undefined : await response.json()) as T
}

const p = (name: string) => `/api/prompts/${encodeURIComponent(name)}`

export function listPrompts(query: PromptQuery, cursor?: string | null, limit = 50): Promise<Page<Prompt>> {
  const params = new URLSearchParams()
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') params.set(k, String(v))
  if (cursor) params.set('cursor', cursor)
  params.set('limit', String(limit))
  return request('GET', `/api/prompts?${params}`)
}

export const createPrompt = (body: PromptCreate) => request<Prompt>('POST', '/api/prompts', body)
export const getPrompt = (name: string) => request<Prompt>('GET', p(name))
export const updatePrompt = (name: string, body: Partial<Pick<Prompt, 'description' | 'tags' | 'visibility'>>) =>
  request<Prompt>('PATCH', p(name), body)
export const archivePrompt = (name: string, archive: boolean) =>
  request<Prompt>('POST', `${p(name)}/${archive ? 'archive' : 'unarchive'}`)

export const listVersions = (name: string, cursor?: string | null, limit = 100) =>
  request<Page<PromptVersion>>(
    'GET',
    `${p(name)}/versions?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
  )
export const getVersion = (name: string, version: number) =>
  request<PromptVersion>('GET', `${p(name)}/versions/${version}`)
export const createVersion = (name: string, body: VersionIn) =>
  request<PromptVersion>('POST', `${p(name)}/versions`, body)

export const moveLabel = (name: string, label: string, version: number, reason = '') =>
  request<LabelOut>('PUT', `${p(name)}/labels/${encodeURIComponent(label)}`, { version, reason })
export const deleteLabel = (name: string, label: string) =>
  request<void>('DELETE', `${p(name)}/labels/${encodeURIComponent(label)}`)
export const labelHistory = (name: string, label?: string) =>
  request<{ items: LabelMove[] }>(
    'GET',
    `${p(name)}/labels/history${label ? `?label=${encodeURIComponent(label)}` : ''}`,
  )

export const diffVersions = (name: string, base: number, head: number) =>
  request<Diff>('GET', `${p(name)}/diff?base=${base}&head=${head}`)

/** The prompt as one YAML file (all versions and labels), what `axops prompt pull` writes. */
export async function exportPrompt(name: string): Promise<Blob> {
  const response = await call('GET', `${p(name)}/export`)
  if (!response.ok) {
    const problem = (await response.json().catch(() => null)) as Problem | null
    throw apiError(problem, response.status)
  }
  return response.blob()
}

export const checkTemplate = (body: { kind: PromptKind; template: Template; variables: Variable[] }) =>
  request<CheckResult>('POST', '/api/prompts/check', body)

export const renderPrompt = (name: string, body: RenderRequest) => request<Rendered>('POST', `${p(name)}/render`, body)
