import type { RunStatus } from '@/api/agents'

/** A run status's chip colour (labels: `agents.status.<status>`). */
export const RUN_STATUS_COLOR: Record<RunStatus, string> = {
  running: 'primary',
  waiting_approval: 'warning',
  succeeded: 'success',
  failed: 'error',
  limit_reached: 'warning',
  cancelled: 'grey',
}
