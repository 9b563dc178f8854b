// The GPU and queue page's pure parts: the inventory's shape (GET /api/metrics/gpu is a free-form
// object in the schema), the queue split into running and waiting, and quota cells.
import type { Schemas } from '@/api/client'

export interface Gpu {
  index: number
  name: string
  uuid?: string
  utilization_percent?: number | null
  memory_used_bytes?: number | null
  memory_total_bytes?: number | null
  temperature_c?: number | null
}

export interface ClusterNode {
  node: string
  gpu_product: string | null
  gpus: number
  mig: Record<string, number>
  ready: boolean
  schedulable: boolean
}

export interface GpuInventory {
  gpus: Gpu[]
  count: number
  message: string | null
  cluster?: { executor: string; nodes: ClusterNode[]; error?: string }
}

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
