import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { api, authFetch, unwrap, ApiError, problemDetail, type Schemas } from '@/api/client'
import type { SortItem } from '@/components/table'
import { PAGE_SIZE, useCursorList } from './paging'

export type AuditEvent = Schemas['AuditEventOut']
export type AuditDay = Schemas['AuditDayCount']
type SortKey = 'created_at' | 'actor_name' | 'action' | 'resource_type' | 'outcome'
export const SORTABLE: SortKey[] = ['created_at', 'actor_name', 'action', 'resource_type', 'outcome']

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
    if (key === 'since' || key === 'until') {
      const when = new Date(text)
      if (!Number.isNaN(when.getTime())) query[key] = when.toISOString()
    } else query[key] = text
  }
  return query
}

/** The reader's IANA time zone: the server counts days in it. */
export function readerZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'
  } catch {
    return 'UTC'
  }
}

/**
 * The audit log (needs audit:read): filtered, sorted and cursor-paginated on the server, with the
 * per-day counts (and so the total) computed by the server over the whole filter, exportable as CSV.
 */
export const useAuditStore = defineStore('audit', () => {
  const filters = ref<AuditFilters>(emptyFilters())
  /** The filter of the loaded rows (what "load more", the chart and the export use), set by `apply`. */
  const applied = ref<AuditFilters>(emptyFilters())
  const sortBy = ref<SortItem[]>([{ key: 'created_at', order: 'desc' }])
  const error = ref<string | null>(null)
  const perDay = ref<AuditDay[]>([])
  const total = ref<number | null>(null)
  const perDayLoading = ref(false)

  function sortQuery(): { sort: SortKey; order: 'asc' | 'desc' } {
    const first = sortBy.value[0]
    const key = SORTABLE.find((k) => k === first?.key) ?? 'created_at'
    return { sort: key, order: first?.order === 'asc' ? 'asc' : 'desc' }
  }

  const list = useCursorList<AuditEvent>(async (cursor) =>
    unwrap(
      await api.GET('/api/audit/logs', {
        params: { query: { ...filterQuery(applied.value), ...sortQuery(), limit: PAGE_SIZE, cursor } },
      }),
    ),
  )

  /** True when the applied filter narrows the log (an empty result is then "no match", not "none yet"). */
  const filtered = computed(() => Object.keys(filterQuery(applied.value)).length > 0)

  let chartGeneration = 0
  async function loadPerDay() {
    const mine = ++chartGeneration
    perDayLoading.value = true
    try {
      const body = unwrap(
        await api.GET('/api/audit/logs/per-day', {
          params: { query: { ...filterQuery(applied.value), tz: readerZone() } },
        }),
      )
      if (mine !== chartGeneration) return
      perDay.value = body.days
      total.value = body.total
    } finally {
      if (mine === chartGeneration) perDayLoading.value = false
    }
  }

  async function run(action: () => Promise<unknown>) {
    error.value = null
    try {
      await action()
    } catch (e) {
      error.value = problemDetail(e)
    }
  }

  /** Apply the filter in the form: the first page and the per-day counts, side by side. */
  async function apply() {
    applied.value = { ...filters.value }
    total.value = null
    await run(() => Promise.all([list.load(), loadPerDay()]))
  }

  /** Re-read the first page in the current sort (the counts do not depend on it). */
  async function resort(sort: SortItem[]) {
    sortBy.value = sort.length ? sort : [{ key: 'created_at', order: 'desc' }]
    await run(() => list.load())
  }

  async function more() {
    await run(() => list.load(true))
  }

  function reset() {
    filters.value = emptyFilters()
    return apply()
  }

  /** Show the events of one resource (from the drawer): the filter set to it, applied. */
  function showResource(resourceType: string, resourceId: string) {
    filters.value = { ...emptyFilters(), resource_type: resourceType, resource_id: resourceId }
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

  return {
    filters,
    applied,
    filtered,
    sortBy,
    error,
    perDay,
    perDayLoading,
    total,
    ...list,
    apply,
    resort,
    more,
    reset,
    showResource,
    exportCsv,
  }
})
