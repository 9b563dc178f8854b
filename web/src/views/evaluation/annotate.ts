import type { Choice, Queue } from '@/api/reviews'

/** The Likert score a key gives on a scale of `scale` points: digits 1..scale (0 means 10 on a ten-point scale). */
export function scoreForKey(key: string, scale: number): number | null {
  if (!/^[0-9]$/.test(key)) return null
  const n = key === '0' ? 10 : Number(key)
  return n >= 1 && n <= scale ? n : null
}

/** The pairwise choice a key gives: 1, 2, or 0 for a tie. */
export function choiceForKey(key: string): Choice | null {
  return key === '1' ? '1' : key === '2' ? '2' : key === '0' ? 'tie' : null
}

/** The criterion focused after moving by `step` (kept within the list). */
export function moveFocus(current: number, step: number, count: number): number {
  if (count <= 0) return 0
  return Math.min(count - 1, Math.max(0, current + step))
}

/** The index of the first criterion still without a score (Likert) or choice (pairwise); null when complete. */
export function completeLabel(
  queue: Pick<Queue, 'mode' | 'criteria'>,
  scores: Record<string, number>,
  choices: Record<string, Choice>,
): number | null {
  const index = queue.criteria.findIndex((c) =>
    queue.mode === 'pairwise' ? choices[c.name] === undefined : scores[c.name] === undefined,
  )
  return index === -1 ? null : index
}
