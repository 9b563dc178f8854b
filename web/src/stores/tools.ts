import { defineStore } from 'pinia'
import { computed, ref, shallowRef } from 'vue'
import {
  getTool,
  listToolVersions,
  testTool,
  toolAnalytics,
  updateTool,
  type Tool,
  type ToolOutcome,
  type ToolStats,
  type ToolUpdate,
  type ToolVersion,
} from '@/api/tools'
import { useAuthStore } from '@/stores/auth'

/** Test-run arguments typed as JSON text: the object, or why it is not one. */
export function parseArguments(text: string): { value: Record<string, unknown> | null; error: string | null } {
  if (!text.trim()) return { value: {}, error: null }
  try {
    const value: unknown = JSON.parse(text)
    if (!value || typeof value !== 'object' || Array.isArray(value)) return { value: null, error: 'object' }
    return { value: value as Record<string, unknown>, error: null }
  } catch (e) {
    return { value: null, error: (e as Error).message }
  }
}

/** Example arguments for a JSON schema's properties (the test panel starts from them). */
export function exampleArguments(schema: Record<string, unknown> | undefined): Record<string, unknown> {
  const props = (schema?.properties ?? {}) as Record<string, { type?: string; default?: unknown; enum?: unknown[] }>
  const out: Record<string, unknown> = {}
  for (const [name, p] of Object.entries(props)) {
    if (p.default !== undefined) out[name] = p.default
    else if (p.enum?.length) out[name] = p.enum[0]
    else if (p.type === 'integer' || p.type === 'number') out[name] = 0
    else if (p.type === 'boolean') out[name] = false
    else if (p.type === 'array') out[name] = []
    else if (p.type === 'object') out[name] = {}
    else out[name] = ''
  }
  return out
}

/** The tool page: the tool, its versions (newest first), its analytics row and the last test run. */
export const useToolStore = defineStore('tool', () => {
  const auth = useAuthStore()
  const tool = ref<Tool | null>(null)
  const versions = shallowRef<ToolVersion[]>([])
  const stats = ref<ToolStats | null>(null)
  const loading = ref(false)
  const error = ref<string | null>(null)
  const missing = ref(false)
  const outcome = ref<ToolOutcome | null>(null)
  const testing = ref(false)
  const testError = ref<string | null>(null)

  const latest = computed(() => versions.value[0] ?? null)
  const canWrite = computed(
    () =>
      auth.can('tools:write') &&
      !!tool.value &&
      (auth.user?.role === 'admin' || !!auth.user?.teams.some((team) => team.id === tool.value?.team_id)),
  )

  async function load(id: string) {
    loading.value = true
    missing.value = false
    if (tool.value?.id !== id) {
      tool.value = null
      outcome.value = null
    }
    try {
      const [found, all] = await Promise.all([getTool(id), listToolVersions(id)])
      tool.value = found
      versions.value = [...all].sort((x, y) => y.version - x.version)
      error.value = null
    } catch (e) {
      if ((e as { status?: number }).status === 404) missing.value = true
      else error.value = (e as Error).message
    } finally {
      loading.value = false
    }
    // Analytics are a nicety on this page: a failure there does not hide the tool.
    try {
      stats.value = (await toolAnalytics(30)).find((s) => s.tool_id === id) ?? null
    } catch {
      stats.value = null
    }
  }

  async function test(args: Record<string, unknown>) {
    if (!tool.value) return
    testing.value = true
    testError.value = null
    try {
      outcome.value = await testTool(tool.value.id, args)
    } catch (e) {
      testError.value = (e as Error).message
    } finally {
      testing.value = false
    }
  }

  async function save(body: ToolUpdate) {
    if (!tool.value) return
    tool.value = await updateTool(tool.value.id, body)
  }

  return {
    tool,
    versions,
    stats,
    loading,
    error,
    missing,
    outcome,
    testing,
    testError,
    latest,
    canWrite,
    load,
    test,
    save,
  }
})
