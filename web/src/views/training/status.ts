export interface LogLine {
  seq: number
  attempt: number
  at: string
  line: string
}

/** The lines worth pointing at next to a failure: tracebacks' last lines and the runtime's verdict. */
export function isFailureLine(line: string): boolean {
  return /axops-train: failed|Error:|Traceback|Killed|killed by|out of memory/i.test(line)
}

/** A job's failure kinds (training/models.py FAILURE_KINDS): each has a `training.failure.<kind>` sentence. */
export const FAILURE_KINDS = ['data', 'oom', 'distributed', 'user_code', 'killed', 'checkpoint', 'cancelled']

type Translate = (key: string, params?: Record<string, unknown>) => string

/**
 * The scheduler's and executors' reasons (training/service.py, quotas.py, executors/*_training.py) are English
 * sentences of a few fixed shapes; each known shape becomes a `training.reason.<key>` sentence with its numbers.
 * Anything else (a runtime's own failure text, a cluster's message) returns null: the page shows the failure
 * kind in the reader's language and that text as the technical detail it is.
 */
const REASONS: [RegExp, string, (m: RegExpExecArray) => Record<string, unknown>][] = [
  [/^waiting for the scheduler$/, 'scheduler', () => ({})],
  [/^waiting for a free training slot \((\d+) of (\d+) in use\)$/, 'slot', (m) => ({ used: m[1], slots: m[2] })],
  [/^waiting for (\d+) GPU\(s\): (\d+) free$/, 'gpus', (m) => ({ wanted: m[1], free: m[2] })],
  [
    /^waiting for the team's GPU quota: (\d+) of (\d+) in use, this job needs (\d+)$/,
    'quota',
    (m) => ({ used: m[1], quota: m[2], wanted: m[3] }),
  ],
  [/^cancelling: the (process|cluster) is asked to stop( it)?$/, 'cancelling', () => ({})],
  [/^cancelled before it started$/, 'cancelledQueued', () => ({})],
  [/^cancelled while running$/, 'cancelledRunning', () => ({})],
  [/^handed to (.+); waiting for the cluster to start it$/, 'handed', (m) => ({ where: m[1] })],
  [/^waiting in (\S+)/, 'waitingIn', (m) => ({ where: m[1] })],
  [/^queued again \(retried by ([^)]+)\)/, 'retriedBy', (m) => ({ user: m[1] })],
  [/^queued again \(attempt (\d+) failed/, 'retryAfterFailure', (m) => ({ n: m[1] })],
  [/^the training process was killed by (\S+)$/, 'killedBy', (m) => ({ signal: m[1] })],
  [/^the training process exited with code (-?\d+)$/, 'exitCode', (m) => ({ code: m[1] })],
  [/^the training process ended without registering a model version$/, 'noVersion', () => ({})],
]

/** A job's status_reason in the reader's language, or null when it is not one of the known shapes. */
export function reasonText(t: Translate, reason: string | null | undefined): string | null {
  if (!reason) return null
  for (const [pattern, key, params] of REASONS) {
    const m = pattern.exec(reason)
    if (m) return t(`training.reason.${key}`, params(m))
  }
  return null
}

/** The headline of a failure: its kind as a sentence (`training.failure.<kind>`), for every failed job. */
export function failureText(t: Translate, kind: string | null | undefined): string {
  return t(`training.failure.${kind && FAILURE_KINDS.includes(kind) ? kind : 'unknown'}`)
}

/** Where a running attempt runs (placement.where): this machine's shape in the reader's language; a cluster's
 * handle (namespace/name, a Ray job id) as it is. */
export function whereText(t: Translate, where: unknown): string {
  if (typeof where !== 'string' || !where) return '—'
  const m = /^this machine \((\d+) process(?:es)?, GPUs: ([^)]*)\)$/.exec(where)
  if (!m) return where
  return t('training.whereLocal', { processes: m[1], gpus: m[2] === 'none' ? t('training.noGpus') : m[2] })
}
