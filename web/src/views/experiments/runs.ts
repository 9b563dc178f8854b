import { authFetch, problemDetail, type Schemas } from '@/api/client'

export type Run = Schemas['RunOut']
export type Series = { steps: number[]; values: (number | string)[] }

export function statusColor(status: string): string {
  return { RUNNING: 'primary', FINISHED: 'success', FAILED: 'error', KILLED: 'warning' }[status] ?? 'grey'
}

/** A metric value for display: 4 significant digits, NaN/Infinity as they are. */
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
