// Compliance reports and the governance dashboard: the heatmap grid fills every weekday × hour, the checklist tally,
// download file names in Seoul dates, and chart tooltips that never turn a policy name into markup.
import { describe, expect, it } from 'vitest'
import { heatmapGrid, reportFileName, tallyChecklist } from '@/api/governance'
import { activityHeatmap, violationBars } from '@/views/governance/governanceCharts'

const XSS = '<img src=x onerror="window.__xss=1">'
type Formatter = (p: unknown) => string

describe('heatmapGrid', () => {
  it('has 168 cells with the counts at [hour, weekday] and zeros elsewhere', () => {
    const grid = heatmapGrid([
      [1, 10, 11],
      [6, 23, 2],
    ])
    expect(grid).toHaveLength(168)
    expect(grid.find(([h, d]) => h === 10 && d === 1)).toEqual([10, 1, 11])
    expect(grid.find(([h, d]) => h === 23 && d === 6)).toEqual([23, 6, 2])
    expect(grid.reduce((sum, c) => sum + c[2], 0)).toBe(13)
  })
})

describe('tallyChecklist', () => {
  it('counts each status', () => {
    const items = [{ status: 'met' }, { status: 'partial' }, { status: 'met' }, { status: 'not_met' }] as const
    expect(tallyChecklist([...items])).toEqual({ met: 2, partial: 1, not_met: 1 })
    expect(tallyChecklist([])).toEqual({ met: 0, partial: 0, not_met: 0 })
  })
})

describe('reportFileName', () => {
  it('names the period by its first day in Seoul', () => {
    // Monday 2 Nov 00:00 KST is 1 Nov 15:00 UTC
    expect(reportFileName({ period: 'week', period_start: '2026-11-01T15:00:00Z' }, 'pdf')).toBe(
      'compliance-week-2026-11-02.pdf',
    )
    expect(reportFileName({ period: 'month', period_start: '2026-10-31T15:00:00+00:00' }, 'html')).toBe(
      'compliance-month-2026-11-01.html',
    )
  })
})

describe('charts', () => {
  it('escapes policy names and labels in tooltips', () => {
    const bars = violationBars([{ policy: XSS, kind: '개인정보', count: 3 }], XSS)
    const tip = (bars.tooltip.formatter as Formatter)({ dataIndex: 0 })
    expect(tip).not.toContain('<img')
    expect(tip).toContain('&lt;img')
    expect(tip).toContain('개인정보')
    expect(bars.series[0]!.data).toEqual([3])
  })

  it('puts Monday first and scales to the busiest cell', () => {
    const option = activityHeatmap([[0, 9, 5]], ['월', '화', '수', '목', '금', '토', '일'], XSS)
    expect(option.visualMap.max).toBe(5)
    const tip = (option.tooltip.formatter as Formatter)({ value: [9, 0, 5] })
    expect(tip).toContain('월 09:00')
    expect(tip).not.toContain('<img')
  })
})
