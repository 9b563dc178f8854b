import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { api, authFetch, unwrap, ApiError, problemDetail, type Schemas } from '@/api/client'
import { countPerDay } from '@/format'
import { PAGE_SIZE, useCursorList } from './paging'

export type AuditEvent = Schemas['AuditEventOut']

export interface AuditFilters {
  actor: string
  action: string
  resource_type: string
  resource_id: string
  /** `datetime-local` values, in the reader's time zone */
  since: string
  until: string
}

export const emptyFilters = (): AuditFilters => ({
  actor: '',
  action: '',
  resource_type: '',
  resource_id: '',
  since: '',
  until: '',
})

/** The filter as query parameters: empty fields dropped, local datetimes sent as ISO 8601 UTC. */
export function filterQuery(filters: Partial<Record<keyof AuditFilters, string | null>>): Record<string, string> {
  const query: Record<string, string> = {}
  for (const [key, value] of Object.entries(filters)) {
    const text = String(value ?? '').trim()
    if (!text) continue
    query[key] = key === 'since' || key === 'until' ? new Date(text).toISOString() : text
  }
  return query
}

/** The audit log (needs audit:read): filtered, cursor-paginated, exportable as CSV. */
export const useAuditStore = defineStore('audit', () => {
  const filters = ref<AuditFilters>(emptyFilters())
  /** The filter of the loaded rows (what "load more" and the export use), set by `apply`. */
  const applied = ref<AuditFilters>(emptyFilters())
  const list = useCursorList<AuditEvent>(async (cursor) =>
    unwrap(
      await api.GET('/api/audit/logs', {
        params: { query: { ...filterQuery(applied.value), limit: PAGE_SIZE, cursor } },
      }),
    ),
  )
  const perDay = computed(() => countPerDay(list.items.value.map((e) => e.created_at)))

  async function apply() {
    applied.value = { ...filters.value }
    await list.load()
  }

  function reset() {
    filters.value = emptyFilters()
    return apply()
  }

  /** The CSV of every event matching the applied filter (fetched with the bearer token). */
  async function exportCsv(): Promise<Blob> {
    const url = `${window.location.origin}/api/audit/logs/export.csv?${new URLSearchParams(filterQuery(applied.value))}`
    const response = await authFetch(new Request(url))
    if (!response.ok) {
      const problem = await response.json().catch(() => null)
      throw new ApiError(problemDetail(problem, `${response.status} ${response.statusText}`))
    }
    return response.blob()
  }

  return { filters, applied, ...list, perDay, apply, reset, exportCsv }
})
