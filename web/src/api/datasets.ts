import type { paths } from './schema'
import type { Schemas } from './client'

/** The JSON body of an operation's 200 answer. */
type Ok<Op> = Op extends { responses: { 200: { content: { 'application/json': infer R } } } } ? R : never

export type Dataset = Schemas['DatasetOut']
export type DatasetCreate = Schemas['DatasetCreate']
/** A dataset version (derived from the endpoint: the schema name is shared with model versions). */
export type DatasetVersion = Ok<paths['/api/dataset/{dataset_id}/versions']['get']>[number]
export type VersionDetail = Schemas['DatasetVersionDetail']
export type RowsPage = Schemas['RowsPage']
export type Diff = Schemas['DiffOut']
export type DiffKind = Diff['kind']
export type Sensitivity = Dataset['sensitivity']
export type ReviewStatus = DatasetVersion['review_status']
export type MaskMode = NonNullable<Schemas['MaskRequest']['mode']>

export const SENSITIVITIES: Sensitivity[] = ['public', 'internal', 'confidential', 'restricted']
export const SENSITIVITY_COLOR: Record<Sensitivity, string> = {
  public: 'success',
  internal: 'info',
  confidential: 'warning',
  restricted: 'error',
}
export const ENTITY_TYPES = [
  'RRN',
  'ARN',
  'PASSPORT',
  'DRIVER_LICENSE',
  'BRN',
  'PHONE',
  'EMAIL',
  'CREDIT_CARD',
  'BANK_ACCOUNT',
  'IP_ADDRESS',
  'ADDRESS_KR',
  'PERSON',
] as const
/** Entity types that block approval until masked (or overridden). */
export const HIGH_RISK = ['RRN', 'ARN', 'PASSPORT', 'DRIVER_LICENSE', 'CREDIT_CARD', 'BANK_ACCOUNT']
export const MASK_MODES: MaskMode[] = ['mask', 'hash', 'remove']
export const DIFF_KINDS: DiffKind[] = ['added', 'removed', 'changed']

/** Processing steps of a version, in order (its `progress.step`). */
export const STEPS = ['queued', 'masking', 'quality', 'pii', 'done'] as const
export interface Progress {
  step?: (typeof STEPS)[number]
  done?: number
  total?: number
  /** while uploading */
  size?: number
  received?: number
}

export interface Histogram {
  edges: number[]
  counts: number[]
}
export interface QualityColumn {
  name: string
  type: string
  nulls: number
  null_ratio: number
  distinct: number
  unique_ratio: number
  top_values: { value: string; count: number }[]
  numeric?: {
    min: number | null
    max: number | null
    mean: number | null
    std: number | null
    quantiles: Record<string, number>
    histogram: Histogram
  }
  text?: {
    length: {
      min: number | null
      max: number | null
      mean: number | null
      p50: number | null
      p95: number | null
      histogram: Histogram
    }
    language: { korean: number; english: number; other: number; empty: number }
    numeric_like_ratio: number
  }
}
export interface QualityWarning {
  column: string | null
  kind: string
  level: 'warning' | 'info'
  message: string
}
export interface QualityReport {
  rows: number
  duplicate_rows: number
  warnings: QualityWarning[]
  columns: QualityColumn[]
}

export interface PiiExample {
  row: number
  masked: string
  entities: string[]
}
export interface PiiColumn {
  entities: Record<string, number>
  rows_affected: number
  row_ids: number[]
  examples: PiiExample[]
}
export interface PiiReport {
  rows: number
  entities: Record<string, number>
  sensitivity: Sensitivity
  scanned_columns: string[]
  columns: Record<string, PiiColumn>
}

export interface SchemaChanges {
  added: string[]
  removed: string[]
  retyped: { name: string; from: string; to: string }[]
}
export type Row = Record<string, unknown>
export interface DiffSample {
  key: string
  row?: Row | null
  old?: Row
  new?: Row
  changed_columns?: string[]
}

export const progressOf = (v: { progress: Record<string, unknown> }) => v.progress as Progress
export const qualityOf = (v: VersionDetail | null) => (v?.quality ?? null) as QualityReport | null
export const piiOf = (v: VersionDetail | null) => (v?.pii ?? null) as PiiReport | null

/** Being processed: analysed after an upload, masked, or scanned again (a re-scan keeps the status "ready"). */
export function isWorking(v: { status: string; progress: Record<string, unknown> }): boolean {
  const step = progressOf(v).step
  return v.status === 'processing' || (v.status === 'ready' && !!step && step !== 'done')
}

/** Percent done of a processing step, or null when the step has no measure yet. */
export function stepPercent(p: Progress): number | null {
  return p.total ? Math.min(100, Math.floor((100 * (p.done ?? 0)) / p.total)) : null
}

const ENTITY_ALT = ENTITY_TYPES.join('|')
/**
 * What masking leaves: runs of `*` (with the separators between them: `****-****-1111`, `192.168.*.*`),
 * `[RRN]` placeholders (mode "remove") and `RRN_1a2b3c4d` digests (mode "hash").
 */
const MASKED = new RegExp(`\\*+(?:[-. ]?\\*+)*|\\[(?:${ENTITY_ALT})\\]|\\b(?:${ENTITY_ALT})_[0-9a-f]{4,64}\\b`, 'g')

/** A text cut into plain and masked parts, to highlight the masked ones. */
export function maskedSegments(text: string): { text: string; masked: boolean }[] {
  const out: { text: string; masked: boolean }[] = []
  let pos = 0
  for (const m of text.matchAll(MASKED)) {
    if (m.index > pos) out.push({ text: text.slice(pos, m.index), masked: false })
    out.push({ text: m[0], masked: true })
    pos = m.index + m[0].length
  }
  if (pos < text.length) out.push({ text: text.slice(pos), masked: false })
  return out
}

/** A cell value as text: null as an empty marker, objects as JSON. */
export function cellText(value: unknown): string {
  if (value === null || value === undefined) return '∅'
  if (typeof value === 'object') return JSON.stringify(value)
  return String(value)
}
