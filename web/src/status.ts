/**
 * Every status word the API sends (jobs, runs, deployments, versions, uploads, reviews, keys, circuits),
 * with the colour its chip takes. Labels come from `status.<word>` in the messages, so a status reads
 * the same in Korean on every page. The colours are theme colours tuned for WCAG AA text contrast.
 */
const COLORS: Record<string, string> = {
  // work in progress
  queued: 'info',
  pending: 'info',
  scheduled: 'info',
  loading: 'info',
  uploading: 'info',
  importing: 'info',
  processing: 'info',
  uploaded: 'info',
  running: 'primary',
  // done well
  succeeded: 'success',
  finished: 'success',
  ready: 'success',
  approved: 'success',
  active: 'success',
  healthy: 'success',
  closed: 'success',
  production: 'success',
  promoted: 'success',
  // needs a look
  degraded: 'warning',
  failing: 'warning',
  scanned: 'warning',
  staging: 'warning',
  half_open: 'warning',
  killed: 'warning',
  // broken
  failed: 'error',
  crashed: 'error',
  rejected: 'error',
  unhealthy: 'error',
  open: 'error',
  down: 'error',
  // over
  cancelled: 'default',
  stopped: 'default',
  archived: 'default',
  draft: 'default',
  revoked: 'default',
  inactive: 'default',
  expired: 'default',
  deleted: 'default',
  unknown: 'default',
}

/** The lookup key of a status word: MLflow's RUNNING and our running are the same word. */
export function statusKey(status: string): string {
  return status.toLowerCase().replace(/[\s-]+/g, '_')
}

export function statusColor(status: string | null | undefined): string {
  return status ? (COLORS[statusKey(status)] ?? 'default') : 'default'
}

export const KNOWN_STATUSES = Object.keys(COLORS)
