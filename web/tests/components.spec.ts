import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount } from '@vue/test-utils'
import { defineComponent, h, nextTick, reactive, ref } from 'vue'
import { createVuetify } from 'vuetify'
import * as components from 'vuetify/components'
import * as directives from 'vuetify/directives'
import { createMemoryHistory, createRouter } from 'vue-router'
import { i18n, setLocale } from '@/i18n'
import AsyncState from '@/components/AsyncState.vue'
import DataTable from '@/components/DataTable.vue'
import PageHeader from '@/components/PageHeader.vue'
import StatusChip from '@/components/StatusChip.vue'
import NotFound from '@/components/NotFound.vue'
import { statusColor } from '@/status'
import { useDebounced } from '@/debounce'
import './helpers'

function router() {
  return createRouter({
    history: createMemoryHistory(),
    routes: [
      { path: '/', component: { template: '<div />' } },
      { path: '/models', component: { template: '<div />' } },
      { path: '/models/:id', component: { template: '<div />' }, meta: { parent: 'models' } },
    ],
  })
}

async function mountWith(component: object, props: object = {}, slots: object = {}, path = '/') {
  const r = router()
  await r.push(path)
  const wrapper = mount(
    defineComponent({ render: () => h(components.VApp, () => h(component as never, props, slots)) }),
    { global: { plugins: [i18n, r, createVuetify({ components, directives })] }, attachTo: document.body },
  )
  await flushPromises()
  return wrapper
}

const stateOf = (wrapper: { find: (s: string) => { attributes: (a: string) => string | undefined } }) =>
  wrapper.find('[data-testid="async-state"]').attributes('data-state')

beforeEach(() => setLocale('ko'))
afterEach(() => {
  document.body.innerHTML = ''
  localStorage.clear()
})

describe('AsyncState tells the truth', () => {
  it('shows a skeleton, not "nothing here", while the first load runs', async () => {
    const w = await mountWith(AsyncState, { loading: true, empty: true })
    expect(stateOf(w)).toBe('loading')
    expect(w.text()).not.toContain('아직 아무것도 없습니다')
  })

  it('keeps the content on screen during a reload', async () => {
    const w = await mountWith(AsyncState, { loading: true, empty: false }, { default: () => 'rows' })
    expect(stateOf(w)).toBe('content')
    expect(w.text()).toContain('rows')
  })

  it('tells "none yet" from "no match" and offers to clear the filter', async () => {
    const none = await mountWith(AsyncState, { loading: false, empty: true, emptyText: '모델이 없습니다' })
    expect(stateOf(none)).toBe('empty')
    expect(none.text()).toContain('모델이 없습니다')
    none.unmount()
    const onClear = vi.fn()
    const noMatch = await mountWith(AsyncState, { loading: false, empty: true, filtered: true, onClear })
    expect(stateOf(noMatch)).toBe('no-match')
    expect(noMatch.text()).toContain('이 조건에 맞는 항목이 없습니다')
    await noMatch.find('[data-testid="state-clear"]').trigger('click')
    expect(onClear).toHaveBeenCalledOnce()
  })

  it('shows the error with Retry, over loading and emptiness', async () => {
    const onRetry = vi.fn()
    const w = await mountWith(AsyncState, { loading: true, empty: true, error: '서버 오류', onRetry })
    expect(stateOf(w)).toBe('error')
    expect(w.find('[data-testid="state-error-message"]').text()).toBe('서버 오류')
    await w.find('[data-testid="state-error"] button').trigger('click')
    expect(onRetry).toHaveBeenCalledOnce()
  })
})

interface Row {
  id: string
  name: string
  loss: number
}
const rows: Row[] = [
  { id: 'r1', name: 'beta', loss: 0.5 },
  { id: 'r2', name: 'alpha', loss: 0.25 },
  { id: 'r3', name: 'gamma-with-a-very-long-name', loss: 0.75 },
]
const columns = [
  { key: 'name', title: '이름' },
  { key: 'loss', title: 'loss', optional: true },
  { key: 'id', title: 'ID', hidden: true },
]
const cellTexts = (w: { findAll: (s: string) => { text: () => string }[] }, col: number) =>
  w
    .findAll('tbody tr')
    .map((tr) => (tr as unknown as { findAll: (s: string) => { text: () => string }[] }).findAll('td')[col].text())

describe('DataTable', () => {
  it('sorts by a column header click', async () => {
    const w = await mountWith(DataTable, { columns, items: rows })
    expect(cellTexts(w, 0)).toEqual(['beta', 'alpha', 'gamma-with-a-very-long-name'])
    await w.findAll('thead th')[1].find('.v-data-table-header__content').trigger('click')
    await nextTick()
    expect(cellTexts(w, 1)).toEqual(['0.25', '0.5', '0.75'])
  })

  it('hides and shows columns from the picker and remembers the choice per table', async () => {
    const w = await mountWith(DataTable, { columns, items: rows, tableId: 'runs' })
    const heads = () => w.findAll('thead th').map((th) => th.text())
    expect(heads()).toEqual(['이름', 'loss'])
    await w.find('[data-testid="column-picker"]').trigger('click')
    await flushPromises()
    ;(document.querySelector('[data-testid="column-id"]') as HTMLElement).click()
    await flushPromises()
    expect(heads()).toEqual(['이름', 'loss', 'ID'])
    expect(JSON.parse(localStorage.getItem('axops.columns.runs')!)).toEqual({ id: true })
    w.unmount()
    const again = await mountWith(DataTable, { columns, items: rows, tableId: 'runs' })
    expect(again.findAll('thead th').map((th) => th.text())).toEqual(['이름', 'loss', 'ID'])
  })

  it('gives columns that arrive later their own default, and reads an older saved list of hidden keys', async () => {
    localStorage.setItem('axops.columns.late', JSON.stringify(['loss']))
    const props = reactive({ columns: columns.slice(0, 1) as typeof columns, items: rows, tableId: 'late' })
    const w = await mountWith(DataTable, props)
    props.columns = [...columns, { key: 'acc', title: 'acc', optional: true }]
    await flushPromises()
    expect(w.findAll('thead th').map((th) => th.text())).toEqual(['이름', 'acc'])
  })

  it('keeps a cell on one line with the full text on hover', async () => {
    const w = await mountWith(DataTable, { columns, items: rows })
    const cell = w.findAll('tbody .ax-cell').find((c) => c.text().startsWith('gamma'))!
    expect(cell.attributes('title')).toBe('gamma-with-a-very-long-name')
  })

  it('says how many of how many are shown, and offers more', async () => {
    const onMore = vi.fn()
    const w = await mountWith(DataTable, { columns, items: rows, total: 1000, hasMore: true, onMore })
    expect(w.find('[data-testid="table-count"]').text()).toBe('1,000개 중 3개 표시')
    await w.find('[data-testid="load-more"]').trigger('click')
    expect(onMore).toHaveBeenCalledOnce()
  })

  it('shows no-match rather than an empty table when a filter is active', async () => {
    const w = await mountWith(DataTable, { columns, items: [], filtered: true })
    expect(stateOf(w)).toBe('no-match')
    expect(w.find('table').exists()).toBe(false)
  })
})

describe('StatusChip and the status map', () => {
  it('labels statuses in the reader language, MLflow upper case included', async () => {
    const w = await mountWith(StatusChip, { status: 'RUNNING' })
    expect(w.text()).toBe('실행 중')
    w.unmount()
    setLocale('en')
    const en = await mountWith(StatusChip, { status: 'stopped' })
    expect(en.text()).toBe('Stopped')
  })

  it('shows an unknown word as sent, in a neutral colour', async () => {
    const w = await mountWith(StatusChip, { status: 'mystery' })
    expect(w.text()).toBe('mystery')
    expect(statusColor('mystery')).toBe('default')
    expect(statusColor('FAILED')).toBe('error')
    expect(statusColor('ready')).toBe('success')
  })
})

describe('PageHeader and NotFound', () => {
  it('names the browser tab and shows the section breadcrumb on a detail page', async () => {
    const w = await mountWith(PageHeader, { title: 'my-model' }, {}, '/models/m1')
    expect(document.title).toBe('my-model · axops')
    const crumb = w.find('[data-testid="breadcrumbs"] a')
    expect(crumb.text()).toBe('모델')
    expect(crumb.attributes('href')).toBe('/models')
  })

  it('says what was not found', async () => {
    const w = await mountWith(NotFound, { what: '모델' })
    expect(w.find('h1').text()).toBe('모델을(를) 찾을 수 없습니다')
    expect(w.find('[data-testid="not-found-home"]').attributes('href')).toBe('/')
  })
})

describe('useDebounced', () => {
  it('follows the source only once it has been still', async () => {
    vi.useFakeTimers()
    try {
      const source = ref('')
      const settled = useDebounced(source, 300)
      source.value = 'l'
      await nextTick()
      vi.advanceTimersByTime(200)
      source.value = 'lo'
      await nextTick()
      vi.advanceTimersByTime(200)
      expect(settled.value).toBe('')
      vi.advanceTimersByTime(100)
      expect(settled.value).toBe('lo')
    } finally {
      vi.useRealTimers()
    }
  })
})
