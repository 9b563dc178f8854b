import { describe, expect, it } from 'vitest'
import { differing, fmt, numericParams, orderBy, points, quoteKey, toFilter, type Run } from '@/views/experiments/runs'
import { barsChart, scatterChart } from '@/views/experiments/charts'

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

  it('formats values', () => {
    expect(fmt(1.23456789)).toBe('1.235')
    expect(fmt(0.00001234)).toBe('1.234e-5')
    expect(fmt(null)).toBe('—')
    expect(fmt('NaN')).toBe('NaN')
  })
})

describe('runs table helpers', () => {
  it('turns the table sort into the search API order_by, quoting any key', () => {
    expect(orderBy([{ key: 'metrics.loss', order: 'desc' }])).toEqual(['metrics."loss" DESC'])
    expect(orderBy([{ key: 'params.lr', order: 'asc' }, { key: 'start_time' }])).toEqual([
      'params."lr" ASC',
      'attributes.start_time ASC',
    ])
    expect(orderBy([{ key: 'metrics.system/gpu 0 "util"', order: 'asc' }])).toEqual([
      'metrics."system/gpu 0 ""util""" ASC',
    ])
    expect(orderBy([{ key: 'experiment_name', order: 'asc' }, { key: 'user_name' }])).toEqual([])
    expect(quoteKey('a\\b')).toBe('"a\\\\b"')
  })

  it('reads plain words as a run name search and an expression as a filter', () => {
    expect(toFilter('  ')).toBe('')
    expect(toFilter('lora')).toBe("attributes.name ILIKE '%lora%'")
    expect(toFilter("o'brien run")).toBe("attributes.name ILIKE '%o''brien run%'")
    expect(toFilter('metrics.loss < 2')).toBe('metrics.loss < 2')
    expect(toFilter("name like 'a%'")).toBe("name like 'a%'")
    expect(toFilter("tags.method in ('a')")).toBe("tags.method in ('a')")
  })

  it('finds the params a scatter can use: every present value a number', () => {
    const runs = [run({ lr: '0.1', opt: 'adam', r: '8' }), run({ lr: '1e-3', opt: 'sgd' }), run({ lr: '0.5' })]
    expect(numericParams(runs, ['lr', 'opt', 'r', 'missing'])).toEqual(['lr', 'r'])
  })
})

describe('run charts', () => {
  const mk = (name: string, lr: string | undefined, loss: number | string | undefined) =>
    ({
      id: name,
      name,
      params: lr === undefined ? {} : { lr },
      metrics: loss === undefined ? {} : { loss: { value: loss, step: 0, timestamp: 0 } },
    }) as unknown as Run
  const runs = [mk('<b>a</b>', '0.1', 2), mk('b', '0.2', 1), mk('c', undefined, 3), mk('d', '0.3', 'NaN')]

  it('plots a metric against a param, only runs with both numbers', () => {
    const { points: n, option } = scatterChart(runs, 'loss', 'lr')
    expect(n).toBe(2)
    expect(option.series[0]!.data).toEqual([
      [0.1, 2],
      [0.2, 1],
    ])
    const tip = option.tooltip.formatter({ dataIndex: 0 })
    expect(tip).toContain('&lt;b&gt;a&lt;/b&gt;')
    expect(tip).not.toContain('<b>a</b>')
  })

  it('draws a bar per run, best first, and escapes names in tooltips', () => {
    const low = barsChart(runs, 'loss')
    expect(low.bars).toBe(3)
    expect(low.option.xAxis.data).toEqual(['b', '<b>a</b>', 'c'])
    expect(barsChart(runs, 'loss', true).option.series[0]!.data).toEqual([3, 2, 1])
    expect(low.option.tooltip.formatter({ dataIndex: 1 })).toContain('&lt;b&gt;a&lt;/b&gt;')
    expect(barsChart(runs, 'loss', false, 1).bars).toBe(1)
  })
})
