// The GPU and queue page's pure parts: the GPU inventory's types (GET /api/metrics/gpu), the queue
// split into running and waiting, and quota cells.
import type { Schemas } from '@/api/client'

export type Gpu = Schemas['Gpu']
export type ClusterNode = Schemas['ClusterNode']
export type GpuInventory = Schemas['GpuInventory']

type Job = Schemas['JobOut']

/** The queue as the API answers it (running, then queued in start order) split in two, each waiting job with its place. */
export function splitQueue(jobs: Job[]): { running: Job[]; waiting: (Job & { position: number })[] } {
  return {
    running: jobs.filter((j) => j.status === 'running'),
    waiting: jobs.filter((j) => j.status === 'queued').map((j, i) => ({ ...j, position: i + 1 })),
  }
}

/** Share of a GPU's memory in use, 0–100. */
export function memoryPct(g: Gpu): number {
  return g.memory_total_bytes ? Math.round((100 * Number(g.memory_used_bytes ?? 0)) / Number(g.memory_total_bytes)) : 0
}

/** The GPUs a job holds (its placement's, on this machine) or asks for (per node, times nodes). */
export function jobGpus(j: Job): string {
  const placed = j.placement.gpus as number[] | undefined
  if (placed?.length) return placed.join(', ')
  const n = Number(j.resources.gpus ?? 0) * Math.max(Number(j.resources.nodes ?? 1), 1)
  return String(n)
}

export function progressPct(j: Job): number {
  const p = j.progress
  return p.max_steps ? Math.round((100 * Number(p.step ?? 0)) / Number(p.max_steps)) : 0
}

/** A quota as typed into the inline editor: a whole number of GPUs from 0, or null when it is not one. */
export function parseQuota(text: string | number | null | undefined): number | null {
  const s = String(text ?? '').trim()
  if (!/^\d+$/.test(s)) return null
  const n = Number(s)
  return n <= 100_000 ? n : null
}
