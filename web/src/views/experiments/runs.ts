import { authFetch, problemDetail, type Schemas } from '@/api/client'
import type { SortItem } from '@/components/table'

export type Run = Schemas['RunOut']
export type Series = { steps: number[]; values: (number | string)[] }

/** A key inside the search language, quoted so any key (dots, spaces, slashes, quotes) reads as itself. */
export function quoteKey(key: string): string {
  return `"${key.replace(/\\/g, '\\\\').replace(/"/g, '""')}"`
}

/** The runs table's column keys the server can sort by, and how the search language names them. */
const SORT_ATTRIBUTES: Record<string, string> = {
  name: 'attributes.name',
  status: 'attributes.status',
  start_time: 'attributes.start_time',
  end_time: 'attributes.end_time',
  id: 'attributes.run_id',
}

/** The table's sort as the search API's `order_by` (`metrics."loss" DESC`); columns it cannot sort are left out. */
export function orderBy(sortBy: SortItem[]): string[] {
  const out: string[] = []
  for (const { key, order } of sortBy) {
    const direction = order === 'desc' ? 'DESC' : 'ASC'
    const dot = key.indexOf('.')
    const kind = dot > 0 ? key.slice(0, dot) : ''
    if (kind === 'metrics' || kind === 'params' || kind === 'tags')
      out.push(`${kind}.${quoteKey(key.slice(dot + 1))} ${direction}`)
    else if (SORT_ATTRIBUTES[key]) out.push(`${SORT_ATTRIBUTES[key]} ${direction}`)
  }
  return out
}

/**
 * What the search box holds, as a filter: an expression (`params.lr < 0.001 and ...`) as it is, plain words as a
 * search of run names (`lora` → runs whose name contains "lora", any case).
 */
export function toFilter(text: string): string {
  const q = text.trim()
  if (!q) return ''
  const expression = /[<>=!]|\s(?:i?like|in|not\s+in)\s/i.test(q)
  return expression ? q : `attributes.name ILIKE '%${q.replace(/'/g, "''")}%'`
}

/** The param keys whose every present value in these runs is a number (what a scatter's x axis can take). */
export function numericParams(runs: Run[], keys: string[]): string[] {
  return keys.filter((k) => {
    const values = runs.map((r) => r.params[k]).filter((v) => v !== undefined && v !== '')
    return values.length > 0 && values.every((v) => Number.isFinite(Number(v)))
  })
}

/** MLflow's system metrics (CPU, memory, GPUs) are shown apart from what the model learns. */
export function isSystemMetric(key: string): boolean {
  return key.startsWith('system/')
}

export function fmt(v: unknown): string {
  if (v === null || v === undefined) return '—'
  if (typeof v === 'number')
    return Math.abs(v) >= 1e5 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(3) : String(Number(v.toPrecision(4)))
  return String(v)
}

/** [step, value] pairs for a line chart (non-finite values left out). */
export function points(s: Series): [number, number][] {
  const out: [number, number][] = []
  s.steps.forEach((step, i) => {
    const v = s.values[i]
    if (typeof v === 'number') out.push([step, v])
  })
  return out
}

/** Keys that differ between runs (a missing key counts as a value of its own). */
export function differing(runs: Run[], pick: (r: Run) => Record<string, unknown>): Set<string> {
  const keys = new Set(runs.flatMap((r) => Object.keys(pick(r))))
  return new Set([...keys].filter((k) => new Set(runs.map((r) => JSON.stringify(pick(r)[k] ?? null))).size > 1))
}

/** POST a JSON body and save the answer as a file (exports, reports). */
export async function download(path: string, body: object, filename: string): Promise<void> {
  const response = await authFetch(
    new Request(`${window.location.origin}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    }),
  )
  if (!response.ok) throw new Error(problemDetail(await response.json().catch(() => null), `${response.status}`))
  const link = document.createElement('a')
  link.href = URL.createObjectURL(await response.blob())
  link.download = filename
  link.click()
  URL.revokeObjectURL(link.href)
}
