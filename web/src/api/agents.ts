// Agents from the browser (/api/agent): agents and their immutable versions, runs (streamed as server-sent
// events over fetch), their traces (steps) and approvals. Shapes follow agents/schemas.py (kept by hand until
// the generated types land).
import { apiError, authFetch, type Problem } from './client'
import { SseParser } from './gateway'
import { query, requestJson } from './http'
import { itemsOf } from './tools'

export interface AgentLimits {
  max_steps?: number | null
  max_tokens?: number | null
  max_cost?: number | null
  max_seconds?: number | null
}

export interface PromptRef {
  name: string
  version?: number | null
  label?: string | null
}

export interface AgentVersionIn {
  route: string
  system_prompt?: string | null
  prompt?: PromptRef | null
  tool_ids: string[]
  limits: AgentLimits
  params: { temperature?: number | null; max_tokens?: number | null }
}

export interface AgentVersion extends AgentVersionIn {
  version: number
  created_at: string
}

export interface Agent {
  id: string
  team_id: string
  team_name?: string | null
  name: string
  description: string
  latest_version: number
  created_at: string
  updated_at?: string | null
  archived: boolean
  visibility?: string
  /** The latest version, when the API includes it. */
  current?: AgentVersion | null
}

export type RunStatus = 'running' | 'waiting_approval' | 'succeeded' | 'failed' | 'limit_reached' | 'cancelled'
export type StepKind = 'model' | 'tool' | 'approval' | 'answer' | 'error'

export interface Step {
  index: number
  kind: StepKind
  name?: string | null
  tool_call_id?: string | null
  parallel_group?: number | string | null
  input?: unknown
  output?: unknown
  latency_ms?: number | null
  prompt_tokens?: number | null
  completion_tokens?: number | null
  cost?: number | null
  error?: string | null
  error_kind?: string | null
  started_at?: string | null
}

export interface Approval {
  id: string
  tool_call_id: string
  tool_id?: string | null
  tool_name?: string | null
  arguments?: unknown
  status: 'pending' | 'approved' | 'rejected'
  decided_at?: string | null
}

export interface Run {
  id: string
  agent_id: string
  agent_name?: string | null
  version: number
  status: RunStatus
  stop_reason?: string | null
  input?: unknown
  output?: string | null
  /** How many steps it took (the list's count; the trace is `trace`). */
  steps?: number | null
  prompt_tokens?: number | null
  completion_tokens?: number | null
  cost?: number | null
  latency_ms?: number | null
  created_at: string
  finished_at?: string | null
  /** The steps (a run's detail only). */
  trace?: Step[]
  approvals?: Approval[]
}

export interface AgentCreate {
  team_id: string | null
  name: string
  description: string
  version: AgentVersionIn
}

const a = (id: string) => `/api/agent/agents/${encodeURIComponent(id)}`
const r = (id: string) => `/api/agent/runs/${encodeURIComponent(id)}`

export const listAgents = async (params: { archived?: boolean } = {}) =>
  itemsOf(await requestJson<Agent[] | { items: Agent[] }>('GET', `/api/agent/agents${query(params)}`))
export const getAgent = (id: string) => requestJson<Agent>('GET', a(id))
export const createAgent = (body: AgentCreate) => requestJson<Agent>('POST', '/api/agent/agents', body)
export const updateAgent = (id: string, body: { description?: string }) => requestJson<Agent>('PATCH', a(id), body)
export const archiveAgent = (id: string) => requestJson<void>('DELETE', a(id))
export const listAgentVersions = async (id: string) =>
  itemsOf(await requestJson<AgentVersion[] | { items: AgentVersion[] }>('GET', `${a(id)}/versions`))
export const createAgentVersion = (id: string, body: AgentVersionIn) =>
  requestJson<AgentVersion>('POST', `${a(id)}/versions`, body)

export const listRuns = async (agentId?: string, limit = 50) =>
  itemsOf(await requestJson<Run[] | { items: Run[] }>('GET', `/api/agent/runs${query({ agent_id: agentId, limit })}`))
export const getRun = (id: string) => requestJson<Run>('GET', r(id))
export const cancelRun = (id: string) => requestJson<Run>('POST', `${r(id)}/cancel`)

/** One server-sent event of a run: its name (step, tool_call, tool_result, approval_required, answer, error, done)
 * and its JSON data. */
export interface RunEvent {
  event: string
  data: Record<string, unknown>
}

/** A server-sent-events parser whose events come with their name and their data read as JSON. */
export class NamedSseParser extends SseParser {
  constructor(onEvent: (event: RunEvent) => void) {
    super((text, event) => onEvent({ event, data: jsonData(text) }))
  }
}

function jsonData(text: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(text)
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : { value: parsed }
  } catch {
    return { text }
  }
}

/** POST `body` to `path` asking for server-sent events, and pass each to `onEvent` until the stream ends or
 * `signal` aborts. A JSON answer instead of a stream (a run, say) comes as one event named `run`. */
async function streamEvents(
  path: string,
  body: unknown,
  onEvent: (event: RunEvent) => void,
  signal?: AbortSignal,
): Promise<void> {
  const response = await authFetch(
    new Request(`${window.location.origin}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
      body: JSON.stringify(body),
      signal,
    }),
  )
  if (!response.ok) {
    const problem = (await response.json().catch(() => null)) as Problem | null
    throw apiError(problem, response.status)
  }
  if (!response.body || (response.headers.get('content-type') ?? '').includes('application/json')) {
    onEvent({ event: 'run', data: (await response.json()) as Record<string, unknown> })
    return
  }
  const parser = new NamedSseParser(onEvent)
  const reader = response.body.getReader()
  const decoder = new TextDecoder()
  try {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      parser.push(decoder.decode(value, { stream: true }))
    }
    parser.push(decoder.decode())
    parser.end()
  } finally {
    reader.cancel().catch(() => undefined)
  }
}

/** Start a run of `agentId` and follow its events until it ends (or waits for approval). */
export const streamRun = (
  agentId: string,
  input: string | { role: string; content: string }[],
  onEvent: (event: RunEvent) => void,
  signal?: AbortSignal,
) => streamEvents(`${a(agentId)}/runs`, { input, stream: true }, onEvent, signal)

/** Approve or decline a call the run waits for. The last decision resumes the run: its events follow; an
 * earlier one answers with the run (one `run` event). */
export const decideApproval = (
  runId: string,
  approvalId: string,
  approve: boolean,
  onEvent: (event: RunEvent) => void,
  comment = '',
) => streamEvents(`${r(runId)}/approvals/${encodeURIComponent(approvalId)}?stream=true`, { approve, comment }, onEvent)
