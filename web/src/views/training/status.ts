export function jobColor(status: string): string {
  return (
    (
      { queued: 'info', running: 'primary', succeeded: 'success', failed: 'error', cancelled: 'default' } as Record<
        string,
        string
      >
    )[status] ?? 'default'
  )
}

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
