import { defineStore } from 'pinia'
import { computed, ref, shallowRef } from 'vue'
import {
  cancelRun,
  decideApproval,
  getAgent,
  getRun,
  listAgentVersions,
  listRuns,
  streamRun,
  type Agent,
  type AgentVersion,
  type Run,
  type RunEvent,
  type RunStatus,
} from '@/api/agents'
import { useAuthStore } from '@/stores/auth'

/** One line of the chat panel, built from the run's events as they arrive. */
export type ChatItem =
  | { kind: 'user'; text: string }
  | { kind: 'tool_call'; id: string; name: string; arguments: unknown; result?: ToolResult }
  | { kind: 'answer'; text: string }
  | { kind: 'error'; text: string }

export interface ToolResult {
  ok: boolean
  output?: unknown
  error?: string | null
  error_kind?: string | null
  latency_ms?: number | null
}

export interface PendingApproval {
  id: string
  tool_call_id: string
  tool_name: string
  arguments: unknown
}

export interface ChatState {
  items: ChatItem[]
  runId: string | null
  status: RunStatus | null
  stopReason: string | null
  approvals: PendingApproval[]
}

export const emptyChat = (): ChatState => ({ items: [], runId: null, status: null, stopReason: null, approvals: [] })

const str = (v: unknown): string | null => (typeof v === 'string' && v ? v : null)

function approvalOf(raw: Record<string, unknown>): PendingApproval | null {
  const id = str(raw.approval_id) ?? str(raw.id)
  if (!id) return null
  return {
    id,
    tool_call_id: str(raw.tool_call_id) ?? '',
    tool_name: str(raw.tool) ?? str(raw.tool_name) ?? str(raw.name) ?? '',
    arguments: raw.arguments ?? null,
  }
}

/** Applies one run event to the chat (a pure function: the panel and the tests share it). */
export function applyEvent(state: ChatState, { event, data }: RunEvent): ChatState {
  state.runId = str(data.run_id) ?? state.runId
  switch (event) {
    case 'tool_call': {
      const id = str(data.tool_call_id) ?? str(data.id) ?? String(state.items.length)
      if (!state.items.some((i) => i.kind === 'tool_call' && i.id === id))
        state.items.push({
          kind: 'tool_call',
          id,
          name: str(data.name) ?? str(data.tool_name) ?? '?',
          arguments: data.arguments,
        })
      break
    }
    case 'tool_result': {
      const id = str(data.tool_call_id) ?? str(data.id)
      const call = state.items.find((i) => i.kind === 'tool_call' && i.id === id)
      const result: ToolResult = {
        ok: data.ok !== false && !data.error,
        output: data.output,
        error: str(data.error),
        error_kind: str(data.error_kind),
        latency_ms: typeof data.latency_ms === 'number' ? data.latency_ms : null,
      }
      if (call && call.kind === 'tool_call') call.result = result
      else state.items.push({ kind: 'tool_call', id: id ?? '', name: str(data.name) ?? '?', arguments: null, result })
      break
    }
    case 'approval_required': {
      state.status = 'waiting_approval'
      const list = data.calls ?? data.approvals
      const raws = Array.isArray(list) ? (list as Record<string, unknown>[]) : [data]
      for (const raw of raws) {
        const approval = approvalOf(raw)
        if (approval && !state.approvals.some((p) => p.id === approval.id)) state.approvals.push(approval)
      }
      break
    }
    case 'answer': {
      const text = str(data.content) ?? str(data.text) ?? str(data.output) ?? ''
      const last = state.items[state.items.length - 1]
      // Streamed pieces of one answer grow one bubble.
      if (data.delta && last?.kind === 'answer') last.text += text
      else state.items.push({ kind: 'answer', text })
      break
    }
    case 'error':
      state.items.push({ kind: 'error', text: str(data.error) ?? str(data.message) ?? str(data.detail) ?? 'error' })
      break
    case 'done':
      state.status = (str(data.status) as RunStatus | null) ?? state.status
      state.stopReason = str(data.stop_reason) ?? state.stopReason
      break
    case 'run': {
      // A stream's first event names its run ({run_id}); an answer that was not a stream is the run itself:
      // its state, answer and the calls still waiting.
      state.runId = str(data.id) ?? state.runId
      if (!('id' in data)) break
      state.status = (str(data.status) as RunStatus | null) ?? state.status
      state.stopReason = str(data.stop_reason) ?? state.stopReason
      const output = str(data.output)
      if (output && !state.items.some((i) => i.kind === 'answer')) state.items.push({ kind: 'answer', text: output })
      const approvals = Array.isArray(data.approvals) ? (data.approvals as Record<string, unknown>[]) : []
      state.approvals = approvals
        .filter((x) => x.status === 'pending')
        .map(approvalOf)
        .filter((x): x is PendingApproval => x !== null)
      break
    }
  }
  return state
}

/** The agent page: the agent, its versions, its runs, the chat with it and the trace shown. */
export const useAgentStore = defineStore('agent', () => {
  const auth = useAuthStore()
  const agent = ref<Agent | null>(null)
  const versions = shallowRef<AgentVersion[]>([])
  const runs = shallowRef<Run[]>([])
  const loading = ref(false)
  const error = ref<string | null>(null)
  const missing = ref(false)
  const chat = ref<ChatState>(emptyChat())
  const sending = ref(false)
  const trace = ref<Run | null>(null)
  let controller: AbortController | null = null

  const latest = computed(() => versions.value[0] ?? agent.value?.current ?? null)
  const canWrite = computed(
    () =>
      auth.can('agents:write') &&
      !!agent.value &&
      (auth.user?.role === 'admin' || !!auth.user?.teams.some((team) => team.id === agent.value?.team_id)),
  )

  /** Running the agent needs agents:write (a run spends the team's budget) on a team of the agent. */
  const canRun = canWrite

  async function load(id: string) {
    loading.value = true
    missing.value = false
    if (agent.value?.id !== id) {
      agent.value = null
      chat.value = emptyChat()
      trace.value = null
    }
    try {
      const [found, all] = await Promise.all([getAgent(id), listAgentVersions(id)])
      agent.value = found
      versions.value = [...all].sort((x, y) => y.version - x.version)
      error.value = null
    } catch (e) {
      if ((e as { status?: number }).status === 404) missing.value = true
      else error.value = (e as Error).message
    } finally {
      loading.value = false
    }
  }

  async function loadRuns() {
    if (!agent.value) return
    runs.value = await listRuns(agent.value.id)
  }

  async function showTrace(runId: string) {
    trace.value = await getRun(runId)
  }

  /** The run's stored trace once it stopped or waits, so the timeline shows it. */
  async function refreshTrace() {
    if (chat.value.runId) await showTrace(chat.value.runId).catch(() => undefined)
  }

  async function send(text: string) {
    if (!agent.value || !text.trim()) return
    controller?.abort()
    controller = new AbortController()
    chat.value = emptyChat()
    chat.value.items.push({ kind: 'user', text })
    chat.value.status = 'running'
    sending.value = true
    try {
      await streamRun(agent.value.id, text, (event) => void applyEvent(chat.value, event), controller.signal)
    } catch (e) {
      if ((e as Error).name !== 'AbortError') chat.value.items.push({ kind: 'error', text: (e as Error).message })
    } finally {
      sending.value = false
    }
    await refreshTrace()
  }

  /** Approve or decline a waiting call; the last decision resumes the run and its events stream into the chat. */
  async function decide(approvalId: string, approve: boolean) {
    const runId = chat.value.runId
    if (!runId) return
    chat.value.approvals = chat.value.approvals.filter((a) => a.id !== approvalId)
    sending.value = true
    try {
      await decideApproval(runId, approvalId, approve, (event) => void applyEvent(chat.value, event))
    } finally {
      sending.value = false
    }
    await refreshTrace()
  }

  async function cancel() {
    controller?.abort()
    if (chat.value.runId) trace.value = await cancelRun(chat.value.runId)
    chat.value.status = 'cancelled'
  }

  return {
    agent,
    versions,
    runs,
    loading,
    error,
    missing,
    chat,
    sending,
    trace,
    latest,
    canWrite,
    canRun,
    load,
    loadRuns,
    showTrace,
    send,
    decide,
    cancel,
  }
})
