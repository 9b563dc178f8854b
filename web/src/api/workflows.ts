// Workflows from the browser (/api/agent/workflows): team-owned graphs of model, tool, condition and loop nodes,
// saved as immutable versions (YAML import/export) and run with a trace per node.
import { requestJson } from './http'
import { authFetch, apiError, type Problem, type Schemas } from './client'

export const NODE_TYPES = ['input', 'model', 'tool', 'condition', 'loop', 'output'] as const
export type NodeType = (typeof NODE_TYPES)[number]
export const INPUT_TYPES = ['string', 'number', 'integer', 'boolean', 'list', 'object'] as const

export interface WorkflowInput {
  name: string
  type: string
  required?: boolean
}
export interface DefinitionNode {
  id: string
  type: NodeType
  label?: string
  position: { x: number; y: number }
  config: Record<string, unknown>
}
export interface DefinitionEdge {
  id: string
  source: string
  target: string
  source_handle?: string | null
}
export interface Definition {
  inputs: WorkflowInput[]
  nodes: DefinitionNode[]
  edges: DefinitionEdge[]
  limits?: Record<string, number | null>
}

export interface Workflow {
  id: string
  name: string
  description?: string | null
  team_id: string
  team_name?: string | null
  latest_version: number
  last_run_status?: string | null
  last_run_at?: string | null
  created_at?: string
  updated_at?: string
  archived_at?: string | null
}
export interface WorkflowVersion {
  version: number
  definition: Definition
  message?: string | null
  created_at?: string
  created_by_name?: string | null
}
export interface NodeRun {
  seq?: number
  node_id: string
  node_type?: string
  iteration?: number | null
  status: 'ok' | 'error' | 'skipped' | string
  input?: unknown
  output?: unknown
  latency_ms?: number | null
  tokens?: number | null
  prompt_tokens?: number | null
  completion_tokens?: number | null
  cost?: number | null
  error?: string | null
}
export interface WorkflowRun {
  id: string
  workflow_id: string
  version: number
  status: string
  input?: Record<string, unknown> | null
  output?: unknown
  error?: string | null
  error_node?: string | null
  totals?: Record<string, number | null> | null
  started_at?: string | null
  finished_at?: string | null
  created_by_name?: string | null
  nodes?: NodeRun[]
}
export interface Page<T> {
  items: T[]
  next_cursor?: string | null
  total?: number | null
}

// The shapes above are what the builder reads; these lines fail the type check if the server's answers
// (the generated schema) stop fitting them.
export const fitsWorkflow = (v: Schemas['WorkflowOut']): Workflow => v
export const fitsRun = (v: Schemas['WorkflowRunOut']): WorkflowRun => v

const w = (id: string) => `/api/agent/workflows/${encodeURIComponent(id)}`

export const listWorkflows = (includeArchived = false) =>
  requestJson<Page<Workflow>>('GET', `/api/agent/workflows?limit=200${includeArchived ? '&include_archived=true' : ''}`)
export const createWorkflow = (body: {
  name: string
  team_id?: string
  description?: string
  version?: { definition: Definition; message?: string }
}) => requestJson<Workflow>('POST', '/api/agent/workflows', body)
export const getWorkflow = (id: string) => requestJson<Workflow>('GET', w(id))
export const archiveWorkflow = (id: string) => requestJson<Workflow>('POST', `${w(id)}/archive`)
export const listVersions = (id: string) => requestJson<Page<WorkflowVersion>>('GET', `${w(id)}/versions`)
export const getVersion = (id: string, n: number) => requestJson<WorkflowVersion>('GET', `${w(id)}/versions/${n}`)
export const saveVersion = (id: string, body: { definition: Definition; message?: string }) =>
  requestJson<WorkflowVersion>('POST', `${w(id)}/versions`, body)
export const runWorkflow = (id: string, body: { input: Record<string, unknown>; version?: number | null }) =>
  requestJson<WorkflowRun>('POST', `${w(id)}/runs`, body)
/** The workflow's runs, newest first, without their node traces (`getRun` has those). */
export const listRuns = (id: string) => requestJson<Page<WorkflowRun>>('GET', `${w(id)}/runs?limit=50`)
export const getRun = (runId: string) =>
  requestJson<WorkflowRun>('GET', `/api/agent/workflow-runs/${encodeURIComponent(runId)}`)

/** Import a YAML file: a new version of the team's workflow of the file's name, else a new workflow of `teamId`. */
export async function importYaml(
  text: string,
  teamId?: string | null,
): Promise<WorkflowVersion & { workflow_id: string }> {
  const q = teamId ? `?team_id=${encodeURIComponent(teamId)}` : ''
  const response = await authFetch(
    new Request(`${window.location.origin}/api/agent/workflows/import${q}`, {
      method: 'POST',
      body: text,
      headers: { 'Content-Type': 'application/yaml' },
    }),
  )
  if (!response.ok) {
    const problem = (await response.json().catch(() => null)) as Problem | null
    const error = apiError(problem, response.status) as ReturnType<typeof apiError> & { problem: Problem | null }
    error.problem = problem
    throw error
  }
  return (await response.json()) as WorkflowVersion & { workflow_id: string }
}

/** A version as YAML text (the server's export). */
export async function exportYaml(id: string, n: number): Promise<string> {
  const response = await authFetch(new Request(`${window.location.origin}${w(id)}/versions/${n}/yaml`))
  if (!response.ok) {
    const problem = (await response.json().catch(() => null)) as Problem | null
    throw apiError(problem, response.status)
  }
  return response.text()
}

/** A tool a tool node may call (the tool registry's list; empty when it cannot be read). */
export interface ToolChoice {
  id: string
  name: string
  description?: string
}
export async function listToolChoices(): Promise<ToolChoice[]> {
  try {
    return (await requestJson<Page<ToolChoice>>('GET', '/api/tool/tools?limit=200')).items
  } catch {
    return []
  }
}
