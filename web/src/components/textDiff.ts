/** One line of a line diff: kept (" "), added ("+") or removed ("-"). The same shape as the API's DiffLine. */
export interface DiffLine {
  op: ' ' | '+' | '-'
  text: string
}

/** Beyond this many lines on a side the diff is "all removed, all added" (the table below is lines × lines). */
const MAX_LINES = 3000

/** A line diff of two texts (longest common subsequence; removals before additions within a change). */
export function lineDiff(before: string, after: string): DiffLine[] {
  const a = before.split('\n')
  const b = after.split('\n')
  if (a.length > MAX_LINES || b.length > MAX_LINES)
    return [...a.map((text) => ({ op: '-' as const, text })), ...b.map((text) => ({ op: '+' as const, text }))]
  const m = a.length
  const n = b.length
  // lcs[i][j]: the common subsequence length of a[i:] and b[j:]
  const lcs = Array.from({ length: m + 1 }, () => new Uint32Array(n + 1))
  for (let i = m - 1; i >= 0; i--)
    for (let j = n - 1; j >= 0; j--)
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!)
  const out: DiffLine[] = []
  let i = 0
  let j = 0
  while (i < m && j < n) {
    if (a[i] === b[j]) {
      out.push({ op: ' ', text: a[i]! })
      i++
      j++
    } else if (lcs[i + 1]![j]! >= lcs[i]![j + 1]!) out.push({ op: '-', text: a[i++]! })
    else out.push({ op: '+', text: b[j++]! })
  }
  while (i < m) out.push({ op: '-', text: a[i++]! })
  while (j < n) out.push({ op: '+', text: b[j++]! })
  return out
}

/** A template as text for a diff: a chat template becomes "[role]" lines each followed by the message. */
export function templateText(template: string | { role: string; content: string }[]): string {
  if (typeof template === 'string') return template
  return template.map((m) => `[${m.role}]\n${m.content}`).join('\n\n')
}
