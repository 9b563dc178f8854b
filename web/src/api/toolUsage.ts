// Tool analytics (/api/tool/analytics): per tool stats and cost, the agent × tool matrix and task keywords.
import { requestJson, query } from './http'
import type { Schemas } from './client'

export type ToolAnalytics = Schemas['ToolAnalytics']
export type ToolUsageStats = Schemas['ToolStats']
export type AgentToolCell = Schemas['AgentToolStats']
export type ToolKeywords = Schemas['ToolKeywords']

export const fetchToolAnalytics = (days = 7, teamId?: string | null) =>
  requestJson<ToolAnalytics>('GET', `/api/tool/analytics${query({ days, team_id: teamId ?? undefined })}`)
