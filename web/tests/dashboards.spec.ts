// The system, training and data dashboards' chart options: durations and ratios as people read them, sankey nodes
// that keep datasets and models apart, and tooltips that never turn a user's name into markup.
import { describe, expect, it } from 'vitest'
import type { LineageLink } from '@/api/dashboards'
import {
  duration,
  growthChart,
  lineageSankey,
  namedBars,
  outcomeBars,
  outcomeDonut,
  percent,
  piiBars,
  waitChart,
} from '@/views/monitoring/dashboardCharts'

const XSS = '<img src=x onerror="window.__xss=1">'
const ESCAPED = '&lt;img src=x onerror=&quot;window.__xss=1&quot;&gt;'

type Formatter = (p: unknown) => string
const tip = (option: { tooltip: { formatter: unknown } }) => option.tooltip.formatter as Formatter

function link(extra: Partial<LineageLink>): LineageLink {
  return {
    job_id: 'j1',
    job: 'job',
    status: 'succeeded',
    dataset_id: 'd1',
    dataset: 'corpus',
    dataset_version: 1,
    model_id: 'm1',
    model: 'model',
    model_version: 2,
    ...extra,
  }
}

describe('dashboard figures', () => {
  it('reads waits and ratios', () => {
    expect(duration(45)).toBe('45 s')
    expect(duration(600)).toBe('10 min')
    expect(duration(5400)).toBe('1.5 h')
    expect(duration(3 * 86400)).toBe('3 d')
    expect(duration(90, { s: '초', m: '분', h: '시간', d: '일' })).toBe('2 분')
    expect(duration(null)).toBe('—')
    expect(percent(0.125)).toBe('12.5%')
    expect(percent(null)).toBe('—')
  })

  it('stacks outcomes per day in state order with their colours', () => {
    const days = [{ day: '2026-12-01', succeeded: 3, failed: 1, cancelled: 0 }]
    const option = outcomeBars(days, { succeeded: 'S', failed: 'F', cancelled: 'C' }, 'en')
    expect(option.series.map((s) => [s.name, s.data])).toEqual([
      ['S', [3]],
      ['F', [1]],
      ['C', [0]],
    ])
    const donut = outcomeDonut(
      { succeeded: 3, failed: 1, cancelled: 0 },
      { succeeded: 'S', failed: 'F', cancelled: 'C' },
    )
    expect(donut.series[0]!.data.map((d) => d.value)).toEqual([3, 1, 0])
  })

  it('keeps a dataset and a model of the same name apart in the sankey, and counts jobs per link', () => {
    const option = lineageSankey(
      [
        link({ dataset: 'same', model: 'same' }),
        link({ job: 'job2', dataset: 'same', model: 'same' }),
        link({ job: 'job3', model: null, model_id: null, model_version: null }),
      ],
      'none yet',
    )
    const series = option.series[0]!
    expect(series.data.map((n) => n.id).sort()).toEqual(['d:corpus v1', 'd:same v1', 'm:none yet', 'm:same v2'])
    expect(series.links).toContainEqual({ source: 'd:same v1', target: 'm:same v2', value: 2, jobs: ['job', 'job2'] })
  })
})

describe('dashboard tooltips escape user names', () => {
  it('team and job bars', () => {
    const html = tip(namedBars([{ name: XSS, value: 1.5 }], 'GPU-h'))({ name: XSS, value: 1.5 })
    expect(html).toContain(ESCAPED)
    expect(html).not.toContain('<img')
  })

  it('per-day charts (outcomes, waits, PII types, growth)', () => {
    const axis = [{ name: XSS, seriesName: XSS, value: 3, color: '#000' }]
    const options = [
      outcomeBars([], { succeeded: XSS }, 'en'),
      waitChart([], { p50: XSS, p95: XSS, max: XSS }, 'en'),
      piiBars([{ day: '2026-12-01', entities: { [XSS]: 2 } }], [XSS], 'en'),
      growthChart([], { added: XSS, versions: XSS, rows: XSS }, 'en'),
    ]
    for (const option of options) {
      const html = tip(option)(axis)
      expect(html).toContain(ESCAPED)
      expect(html).not.toContain('<img')
    }
  })

  it('the outcome donut', () => {
    const html = tip(outcomeDonut({ succeeded: 1, failed: 0, cancelled: 0 }, {}))({
      name: XSS,
      value: 1,
      percent: 100,
      color: '#000',
    })
    expect(html).not.toContain('<img')
  })

  it('the lineage sankey: nodes and links', () => {
    const option = lineageSankey([link({ dataset: XSS, model: XSS, job: XSS })], XSS)
    const format = tip(option)
    const node = format({ dataType: 'node', data: { id: `d:${XSS} v1` } })
    const edge = format({
      dataType: 'edge',
      data: { source: `d:${XSS} v1`, target: `m:${XSS} v2`, jobs: [XSS] },
    })
    for (const html of [node, edge]) {
      expect(html).toContain(ESCAPED)
      expect(html).not.toContain('<img')
    }
  })
})
