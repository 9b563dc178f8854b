import { describe, expect, it } from 'vitest'
import { differing, fmt, points, statusColor, type Run } from '@/views/experiments/runs'

const run = (params: Record<string, string>) => ({ params }) as unknown as Run

describe('experiment helpers', () => {
  it('finds the params that differ, a missing key counting as different', () => {
    const runs = [run({ lr: '0.1', r: '8' }), run({ lr: '0.2', r: '8' }), run({ r: '8', extra: 'x' })]
    expect([...differing(runs, (r) => r.params)].sort()).toEqual(['extra', 'lr'])
    expect(differing([run({ a: '1' }), run({ a: '1' })], (r) => r.params).size).toBe(0)
  })

  it('turns a series into [step, value] pairs, leaving out NaN and infinities', () => {
    expect(points({ steps: [0, 1, 2, 3], values: [1.5, 'NaN', 0.5, 'Infinity'] })).toEqual([
      [0, 1.5],
      [2, 0.5],
    ])
  })

  it('formats values and statuses', () => {
    expect(fmt(1.23456789)).toBe('1.235')
    expect(fmt(0.00001234)).toBe('1.234e-5')
    expect(fmt(null)).toBe('—')
    expect(fmt('NaN')).toBe('NaN')
    expect(statusColor('FINISHED')).toBe('success')
    expect(statusColor('WHAT')).toBe('grey')
  })
})
