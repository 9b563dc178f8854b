/** The per-minute traffic of a deployment (GET /api/serving/deployments/{id}/metrics). */
export interface MinutePoint {
  minute: string
  requests: number
  errors: number
  p50_ms: number | null
  p95_ms: number | null
  ttft_p50_ms: number | null
  completion_tokens: number
}

/** Every minute of the window (quiet minutes as zeros), oldest first. */
export function fillMinutes(series: MinutePoint[], minutes: number, now: number = Date.now()): MinutePoint[] {
  const byMinute = new Map(series.map((p) => [Math.floor(new Date(p.minute).getTime() / 60000), p]))
  const last = Math.floor(now / 60000)
  const out: MinutePoint[] = []
  for (let m = last - minutes + 1; m <= last; m++) {
    out.push(
      byMinute.get(m) ?? {
        minute: new Date(m * 60000).toISOString(),
        requests: 0,
        errors: 0,
        p50_ms: null,
        p95_ms: null,
        ttft_p50_ms: null,
        completion_tokens: 0,
      },
    )
  }
  return out
}
