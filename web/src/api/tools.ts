// The tool registry from the browser (/api/tool): HTTP (OpenAPI), MCP and Python tools, their immutable
// versions, test runs and analytics. Shapes follow tools/schemas.py (kept by hand until the generated types land).
import { requestJson, query } from './http'
import type { Schemas } from './client'

export type ToolKind = 'http' | 'mcp' | 'python'
export const TOOL_KINDS: ToolKind[] = ['http', 'mcp', 'python']

export interface Tool {
  id: string
  team_id: string
  team_name?: string | null
  name: string
  kind: ToolKind
  description: string
  latest_version: number
  requires_approval: boolean
  timeout_s: number
  cost_per_call?: number
  allow_hosts: string[]
  has_credential: boolean
  mcp_server_id?: string | null
  created_at: string
  updated_at?: string | null
  archived_at?: string | null
}

export interface ToolVersion {
  tool_id?: string
  version: number
  parameters: Record<string, unknown>
  spec: Record<string, unknown>
  created_at: string
  created_by_name?: string | null
}

/** What a call returns, whatever the kind (tools/outcome.py). */
export interface ToolOutcome {
  ok: boolean
  output?: unknown
  error?: string | null
  error_kind?: string | null
  latency_ms: number
  detail?: Record<string, unknown> | null
}

export interface ToolStats {
  tool_id: string
  name: string
  kind?: ToolKind
  calls: number
  ok?: number
  success_rate: number | null
  p50_ms: number | null
  p95_ms: number | null
  cost: number
  cost_share: number | null
  error_kinds: Record<string, number>
}

export interface ToolCreate {
  team_id: string | null
  name: string
  kind: ToolKind
  description: string
  parameters: Record<string, unknown>
  spec: Record<string, unknown>
  timeout_s?: number
  requires_approval?: boolean
  allow_hosts?: string[]
  credential?: string | null
}

export type ToolUpdate = Partial<
  Pick<Tool, 'description' | 'timeout_s' | 'requires_approval' | 'allow_hosts'> & {
    credential: string | null
    cost_per_call: number
  }
>

export interface OpenApiImport {
  team_id: string | null
  document: string | Record<string, unknown>
  base_url?: string | null
  credential?: string | null
  allow_hosts?: string[] | null
  prefix?: string | null
}

export interface McpServer {
  id: string
  team_id: string
  name: string
  transport: 'http' | 'stdio'
  url?: string | null
  command?: string[]
  tools?: { name: string; description?: string; input_schema?: unknown }[]
  tool_ids?: Record<string, string>
  status: string
  last_error?: string | null
  discovered_at?: string | null
}

export interface McpServerCreate {
  team_id: string | null
  name: string
  transport: 'http' | 'stdio'
  url?: string | null
  headers?: Record<string, string>
  command?: string[]
}

/** A list answer, whether the API pages it ({items}) or not (an array). */
export const itemsOf = <T>(answer: T[] | { items: T[] }): T[] => (Array.isArray(answer) ? answer : answer.items)

const t = (id: string) => `/api/tool/tools/${encodeURIComponent(id)}`

export const listTools = async (params: { include_archived?: boolean; kind?: string; limit?: number } = {}) =>
  itemsOf(await requestJson<Tool[] | { items: Tool[] }>('GET', `/api/tool/tools${query({ limit: 200, ...params })}`))
export const getTool = (id: string) => requestJson<Tool>('GET', t(id))
export const createTool = (body: ToolCreate) => requestJson<Tool>('POST', '/api/tool/tools', body)
export const updateTool = (id: string, body: ToolUpdate) => requestJson<Tool>('PATCH', t(id), body)
export const archiveTool = (id: string) => requestJson<void>('DELETE', t(id))
export const listToolVersions = async (id: string) =>
  itemsOf(await requestJson<ToolVersion[] | { items: ToolVersion[] }>('GET', `${t(id)}/versions`))
export const createToolVersion = (
  id: string,
  body: { parameters: Record<string, unknown>; spec: Record<string, unknown> },
) => requestJson<ToolVersion>('POST', `${t(id)}/versions`, body)
export const testTool = (id: string, args: Record<string, unknown>) =>
  requestJson<ToolOutcome>('POST', `${t(id)}/test`, { arguments: args })
export const importOpenApi = async (body: OpenApiImport) =>
  itemsOf(await requestJson<Tool[] | { items: Tool[] }>('POST', '/api/tool/tools/import-openapi', body))

export const toolAnalytics = async (days = 7) =>
  itemsOf(await requestJson<ToolStats[] | { items: ToolStats[] }>('GET', `/api/tool/analytics${query({ days })}`))

export const listMcpServers = async () =>
  itemsOf(await requestJson<McpServer[] | { items: McpServer[] }>('GET', '/api/tool/mcp-servers'))
export const createMcpServer = (body: McpServerCreate) => requestJson<McpServer>('POST', '/api/tool/mcp-servers', body)
export const refreshMcpServer = (id: string) =>
  requestJson<McpServer>('POST', `/api/tool/mcp-servers/${encodeURIComponent(id)}/refresh`)
export const deleteMcpServer = (id: string) =>
  requestJson<void>('DELETE', `/api/tool/mcp-servers/${encodeURIComponent(id)}`)

/** One call of a tool (a test run, or an agent run's call: `agent_run_id`), newest first. */
export type ToolCall = Schemas['ToolCallOut']
export const listToolCalls = (id: string, cursor?: string | null, limit = 50) =>
  requestJson<{ items: ToolCall[]; next_cursor?: string | null }>(
    'GET',
    `${t(id)}/calls${query({ limit, cursor: cursor ?? undefined })}`,
  )

/** What a refresh changed, by MCP tool name: tools new on the server, tools whose description or schema
 * changed, and tools the server no longer offers (their registry tools are archived). */
export function mcpRefreshDiff(before: McpServer, after: McpServer) {
  const old = new Map((before.tools ?? []).map((x) => [x.name, x]))
  const now = new Map((after.tools ?? []).map((x) => [x.name, x]))
  const added = [...now.keys()].filter((name) => !old.has(name))
  const archived = [...old.keys()].filter((name) => !now.has(name))
  const changed = [...now.entries()]
    .filter(([name, x]) => old.has(name) && JSON.stringify(old.get(name)) !== JSON.stringify(x))
    .map(([name]) => name)
  return { added, changed, archived }
}
