import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { mount, type VueWrapper } from '@vue/test-utils'
import type { Component } from 'vue'
import type { Pinia } from 'pinia'
import { createVuetify } from 'vuetify'
import * as components from 'vuetify/components'
import * as directives from 'vuetify/directives'
import { createMemoryHistory, createRouter } from 'vue-router'
import { i18n, setLocale } from '@/i18n'
import en from '@/i18n/en'
import ko from '@/i18n/ko'
import { maskedSegments } from '@/api/datasets'
import { UploadRejected, uploadDataset } from '@/api/datasetUpload'
import { UploadInterrupted } from '@/api/resumable'
import { useDatasetStore } from '@/stores/datasets'
import DatasetsView from '@/views/datasets/DatasetsView.vue'
import DatasetDetailView from '@/views/datasets/DatasetDetailView.vue'
import DiffViewer from '@/views/datasets/DiffViewer.vue'
import { byTestId, json, mockApi, settle, signIn as signInAs } from './helpers'

// jsdom has no canvas: charts render as placeholders that keep their options.
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

const NOW = '2026-03-01T09:00:00Z'
const dataset = (over: object = {}) => ({
  id: 'd1',
  name: 'customers',
  description: '고객 문의',
  tags: [],
  team_id: 't1',
  team_name: 'research',
  visibility: 'team',
  key_column: 'id',
  sensitivity_floor: 'public',
  sensitivity: 'restricted',
  latest_version: 2,
  row_count: 3,
  created_at: NOW,
  updated_at: NOW,
  ...over,
})
const version = (n: number, over: object = {}) => ({
  id: `v${n}`,
  dataset_id: 'd1',
  version: n,
  label: null,
  status: 'ready',
  error: null,
  source: 'upload',
  parent_version_id: null,
  lineage: {},
  filename: 'customers.csv',
  format: 'csv',
  encoding: 'cp949',
  size: 120,
  sha256: null,
  row_count: 3,
  columns: [
    { name: 'id', type: 'BIGINT' },
    { name: 'memo', type: 'VARCHAR' },
  ],
  progress: { step: 'done' },
  sensitivity: 'restricted',
  review_status: 'scanned',
  reviewed_by: null,
  reviewed_at: null,
  review_comment: null,
  quality_warnings: 0,
  pii_entities: { RRN: 2, PHONE: 1 },
  created_at: NOW,
  updated_at: NOW,
  ...over,
})
const masked = () =>
  version(2, {
    source: 'masked',
    parent_version_id: 'v1',
    format: 'parquet',
    encoding: null,
    sensitivity: 'internal',
    pii_entities: {},
    lineage: { masked_from: 1, entities: ['PHONE', 'RRN'], mode: 'mask', columns: null },
  })

let wrapper: VueWrapper | null = null

const signIn = (permissions: string[]) => signInAs(permissions, { created_at: NOW })

/** Mount with Vuetify, i18n, the pinia and a memory router at `path` (views link and read route params). */
async function mountAt(view: Component, pinia: Pinia, path = '/', props: Record<string, unknown> = {}) {
  const router = createRouter({
    history: createMemoryHistory(),
    routes: [
      { path: '/datasets/:id', component: { template: '<div />' } },
      { path: '/:p(.*)*', component: { template: '<div />' } },
    ],
  })
  await router.push(path)
  await router.isReady()
  wrapper = mount(
    {
      template: '<v-app><v-main><View v-bind="props" /></v-main></v-app>',
      components: { View: view },
      data: () => ({ props }),
    },
    { global: { plugins: [pinia, router, i18n, createVuetify({ components, directives })] }, attachTo: document.body },
  )
  await settle()
  return router
}

beforeEach(() => {
  vi.restoreAllMocks()
  setLocale('ko')
})
afterEach(() => {
  wrapper?.unmount()
  wrapper = null
  document.body.innerHTML = ''
})

describe('datasets list', () => {
  it('renders the datasets from the API with their sensitivity, and searches', async () => {
    const calls = mockApi({
      'GET /api/dataset': ({ query }) => ({
        items:
          query.get('q') === 'none'
            ? []
            : [
                dataset(),
                dataset({
                  id: 'd2',
                  name: 'faq',
                  sensitivity: 'public',
                  latest_version: null,
                  row_count: null,
                  team_name: null,
                }),
              ],
        next_cursor: null,
      }),
    })
    await mountAt(DatasetsView, signIn(['datasets:read', 'datasets:write']), '/datasets')

    const table = byTestId('datasets-table')!
    expect(table.textContent).toContain('customers')
    expect(table.textContent).toContain('faq')
    expect(table.textContent).toContain('research')
    expect(table.textContent).toContain('제한') // restricted, in Korean
    expect(table.textContent).toContain('v2')
    const links = [...table.querySelectorAll('a[data-testid="dataset-link"]')].map((a) => a.getAttribute('href'))
    expect(links).toEqual(['/datasets/d1', '/datasets/d2'])
    expect(table.querySelector('[data-sensitivity="restricted"]')).not.toBeNull()
    expect(byTestId('datasets-upload')).not.toBeNull()

    const search = byTestId('datasets-search') as HTMLInputElement
    search.value = 'none'
    search.dispatchEvent(new Event('input'))
    search.dispatchEvent(new KeyboardEvent('keyup', { key: 'Enter', bubbles: true }))
    await settle()
    expect(calls.at(-1)!.query.get('q')).toBe('none')
    expect(byTestId('datasets-table')).toBeNull()
    expect(byTestId('state-no-match')).not.toBeNull() // no match for this search, not "no datasets yet"
  })

  it('hides the upload button from readers', async () => {
    mockApi({ 'GET /api/dataset': () => ({ items: [], next_cursor: null }) })
    await mountAt(DatasetsView, signIn(['datasets:read']), '/datasets')
    expect(byTestId('datasets-upload')).toBeNull()
  })
})

/** An in-memory stand-in for the resumable dataset upload endpoints, with faults to inject. */
function fakeUploadServer(faults: { dropPut?: number[]; reject?: string } = {}) {
  const state = { data: new Uint8Array(0), size: 0, puts: [] as number[], declared: null as unknown, completed: false }
  let putCount = 0
  const versionOut = (status = 'uploading') =>
    version(1, { status, progress: { size: state.size, received: state.data.length, parts: [] } })
  vi.spyOn(globalThis, 'fetch').mockImplementation(async (input) => {
    const request = input as Request
    const url = new URL(request.url)
    const route = `${request.method} ${url.pathname}`
    if (route === 'POST /api/dataset/uploads') {
      state.declared = await request.json()
      state.size = (state.declared as { size: number }).size
      return json(versionOut(), 201)
    }
    if (route === 'GET /api/dataset/version/v1') return json(versionOut())
    if (route === 'PUT /api/dataset/upload/v1') {
      putCount += 1
      const offset = Number(url.searchParams.get('offset'))
      const chunk = new Uint8Array(await request.arrayBuffer())
      state.puts.push(offset)
      if (offset !== state.data.length) return json({ detail: 'resume', received: state.data.length }, 409)
      const merged = new Uint8Array(state.data.length + chunk.length)
      merged.set(state.data)
      merged.set(chunk, state.data.length)
      state.data = merged
      // The server stored the bytes but the answer is lost: the client must not send them twice.
      if (faults.dropPut?.includes(putCount)) throw new TypeError('Failed to fetch')
      return json({ received: state.data.length, size: state.size })
    }
    if (route === 'POST /api/dataset/version/v1/complete') {
      if (faults.reject)
        return json(
          {
            type: 'https://axops.dev/problems/dataset_file_invalid_line',
            title: 'Invalid request',
            status: 422,
            detail: faults.reject,
            file: 'customers.csv',
            line: 4,
          },
          422,
        )
      state.completed = true
      return json(versionOut('processing'))
    }
    return json({ detail: `no route ${route}` }, 404)
  })
  return state
}

const csv = new File(['id,memo\n1,김철수 900101-1234568\n2,010-1234-5678\n'], 'customers.csv')

describe('resumable dataset upload', () => {
  it('creates the dataset, survives a lost answer without sending bytes twice, and completes', async () => {
    const server = fakeUploadServer({ dropPut: [2] })
    const progress: number[] = []
    const started: string[] = []
    const done = await uploadDataset({ dataset: { name: 'customers', visibility: 'team', key_column: 'id' } }, csv, {
      chunkSize: 16,
      backoffMs: 0,
      onStart: (v) => started.push(v.dataset_id),
      onProgress: (loaded) => progress.push(loaded),
    })
    expect(done.status).toBe('processing')
    expect(server.declared).toEqual({
      dataset: { name: 'customers', visibility: 'team', key_column: 'id' },
      filename: 'customers.csv',
      size: csv.size,
    })
    expect(new TextDecoder().decode(server.data)).toBe(await csv.text())
    // the second chunk's answer was lost: the client asked where the server was and went on from there
    expect(server.puts).toEqual([...new Set(server.puts)])
    expect(server.puts).toEqual(Array.from({ length: Math.ceil(csv.size / 16) }, (_, i) => i * 16))
    expect(server.completed).toBe(true)
    expect(started).toEqual(['d1'])
    expect(progress.at(-1)).toBe(csv.size)
    expect([...progress].sort((a, b) => a - b)).toEqual(progress)
  })

  it('pauses, then resumes from what the server holds', async () => {
    const server = fakeUploadServer()
    const pause = new AbortController()
    const stopped = await uploadDataset({ datasetId: 'd1' }, csv, {
      chunkSize: 16,
      signal: pause.signal,
      onProgress: (n) => n >= 16 && pause.abort(),
    }).catch((e) => e)
    expect(stopped).toBeInstanceOf(UploadInterrupted)
    expect(stopped.versionId).toBe('v1')
    expect(server.declared).toEqual({ dataset_id: 'd1', filename: 'customers.csv', size: csv.size })
    expect(server.completed).toBe(false)

    await uploadDataset({ datasetId: 'd1' }, csv, { chunkSize: 16, versionId: 'v1' })
    expect(server.puts[0]).toBe(0)
    expect(server.puts.filter((o) => o === 0)).toHaveLength(1)
    expect(server.completed).toBe(true)
  })

  it('reports the line at fault when the server cannot parse the file', async () => {
    fakeUploadServer({ reject: 'customers.csv: Line 4: expected 2 fields like the header' })
    const error = await uploadDataset({ datasetId: 'd1' }, csv, { chunkSize: 1024 }).catch((e) => e)
    expect(error).toBeInstanceOf(UploadRejected)
    expect(error.message).toBe(
      "'customers.csv' 파일의 4번째 줄을 읽을 수 없습니다. 이 줄의 열 수와 인코딩이 머리글과 같은지 확인하세요.",
    )
    expect(error.datasetId).toBe('d1')
  })
})

describe('dataset diff', () => {
  it('compares the parent with the masked version and highlights the changed cells', async () => {
    const calls = mockApi({
      'GET /api/dataset/d1/diff': ({ query }) => ({
        schema: { added: [], removed: [], retyped: [] },
        mode: 'key',
        key_column: 'id',
        rows: { old: 3, new: 3 },
        counts: { added: 0, removed: 0, changed: 2 },
        kind: query.get('kind'),
        offset: 0,
        samples:
          query.get('kind') !== 'changed'
            ? []
            : [
                {
                  key: '1',
                  old: { id: 1, memo: '김철수 900101-1234568' },
                  new: { id: 1, memo: '김철수 900101-1******' },
                  changed_columns: ['memo'],
                },
                {
                  key: '2',
                  old: { id: 2, memo: '010-1234-5678' },
                  new: { id: 2, memo: '010-****-5678' },
                  changed_columns: ['memo'],
                },
              ],
      }),
    })
    const pinia = signIn(['datasets:read'])
    const store = useDatasetStore()
    store.dataset = dataset() as never
    store.versions = [masked(), version(1)] as never
    store.selectedId = 'v2'
    await mountAt(DiffViewer, pinia, '/datasets/d1', { active: true })

    const diff = calls.find((c) => c.path === '/api/dataset/d1/diff')!
    expect(diff.query.get('from')).toBe('v1')
    expect(diff.query.get('to')).toBe('v2')
    expect(diff.query.get('kind')).toBe('changed')
    expect(byTestId('diff-count-changed')!.textContent).toContain('2')
    const cells = [...document.querySelectorAll<HTMLElement>('[data-testid="diff-changed-cell"]')]
    expect(cells).toHaveLength(2)
    expect(cells.every((c) => c.classList.contains('changed') && c.dataset.column === 'memo')).toBe(true)
    expect(cells[0].querySelector('del')!.textContent).toBe('김철수 900101-1234568')
    expect(cells[0].querySelector('mark')!.textContent).toBe('******')
    expect(cells[1].querySelector('mark')!.textContent).toBe('****')
    // rows are named by their key, shown once
    expect([...document.querySelectorAll('[data-testid="diff-table-changed"] th')].map((th) => th.textContent)).toEqual(
      ['id', 'memo'],
    )
    expect(
      [...document.querySelectorAll('[data-testid="diff-changed-row"] td.key')].map((td) => td.textContent),
    ).toEqual(['1', '2'])
  })
})

describe('dataset detail', () => {
  it('shows the PII report with masked examples highlighted and creates a masked version of the found types', async () => {
    const detail = {
      ...version(1),
      quality: null,
      pii: {
        rows: 3,
        entities: { RRN: 2, PHONE: 1 },
        sensitivity: 'restricted',
        scanned_columns: ['memo'],
        columns: {
          memo: {
            entities: { RRN: 2, PHONE: 1 },
            rows_affected: 2,
            row_ids: [0, 1],
            examples: [{ row: 0, masked: '김철수 900101-1******', entities: ['RRN'] }],
          },
        },
      },
    }
    const calls = mockApi({
      'GET /api/dataset/d1': () => dataset(),
      'GET /api/dataset/d1/versions': () =>
        calls.some((c) => c.method === 'POST') ? [masked(), version(1)] : [version(1)],
      'GET /api/dataset/version/v1': () => detail,
      'GET /api/dataset/version/v2': () => ({ ...masked(), quality: null, pii: null }),
      'POST /api/dataset/version/v1/mask': () =>
        json({ ...masked(), status: 'processing', progress: { step: 'queued' } }, 202),
    })
    await mountAt(DatasetDetailView, signIn(['datasets:read', 'datasets:write']), '/datasets/d1')
    expect(byTestId('dataset-name-title')!.textContent).toBe('customers')
    expect(byTestId('versions-table')!.textContent).toContain('cp949')

    byTestId('tab-pii')!.click()
    await settle()
    const example = byTestId('pii-example')!
    expect(example.querySelector('mark')!.textContent).toBe('******')
    expect(byTestId('pii-high-risk')!.textContent).toContain('RRN')
    expect(byTestId('pii-chart')!.querySelector('.chart-stub')).not.toBeNull()

    byTestId('pii-mask-open')!.click()
    await settle()
    expect((byTestId('mask-entity-RRN') as HTMLInputElement).checked).toBe(true)
    expect((byTestId('mask-entity-EMAIL') as HTMLInputElement).checked).toBe(false)
    byTestId('pii-mask-submit')!.click()
    await settle()
    const post = calls.find((c) => c.path === '/api/dataset/version/v1/mask')!
    expect(post.body).toEqual({ entities: ['RRN', 'PHONE'], mode: 'mask', columns: null })
    expect(useDatasetStore().selectedId).toBe('v2')
    useDatasetStore().stopPolling()
  }, 30_000) // a whole detail page with its tables: slow on a loaded 2-core machine
})

describe('dataset detail, values withheld', () => {
  it('says the data policy hides top values and PII examples instead of leaving blanks', async () => {
    const reason = 'This data is restricted: its values are for Developers and up in the owning team (and Admins).'
    const detail = {
      ...version(1),
      values_hidden: reason,
      quality: {
        rows: 3,
        duplicate_rows: 0,
        warnings: [],
        columns: [
          { name: 'memo', type: 'VARCHAR', nulls: 0, null_ratio: 0, distinct: 3, unique_ratio: 1, top_values: [] },
        ],
      },
      pii: {
        rows: 3,
        entities: { PHONE: 1 },
        sensitivity: 'restricted',
        scanned_columns: ['memo'],
        columns: { memo: { entities: { PHONE: 1 }, rows_affected: 1, row_ids: [0], examples: [] } },
      },
    }
    mockApi({
      'GET /api/dataset/d1': () => dataset(),
      'GET /api/dataset/d1/versions': () => [version(1)],
      'GET /api/dataset/version/v1': () => detail,
    })
    await mountAt(DatasetDetailView, signIn(['datasets:read']), '/datasets/d1')
    byTestId('tab-quality')!.click()
    await settle()
    expect(byTestId('quality-values-hidden')!.textContent).toContain(reason)
    byTestId('tab-pii')!.click()
    await settle()
    expect(byTestId('pii-examples-hidden')!.textContent).toContain(reason)
    expect(byTestId('pii-example')).toBeNull()
    useDatasetStore().stopPolling()
  })
})

describe('dataset helpers', () => {
  it('finds what masking left in a text', () => {
    const parts = (s: string) =>
      maskedSegments(s)
        .filter((p) => p.masked)
        .map((p) => p.text)
    expect(parts('전화 010-****-5678, 카드 ****-****-****-1111')).toEqual(['****', '****-****-****'])
    expect(parts('주민번호 [RRN] 연락처 PHONE_1a2b3c4d')).toEqual(['[RRN]', 'PHONE_1a2b3c4d'])
    expect(parts('k***@example.com 192.168.*.*')).toEqual(['***', '*.*'])
    expect(parts('nothing here [NOTE]')).toEqual([])
    expect(
      maskedSegments('a**b')
        .map((p) => p.text)
        .join(''),
    ).toBe('a**b')
  })

  it('has every dataset message in both languages', () => {
    const keys = (o: object, prefix = ''): string[] =>
      Object.entries(o).flatMap(([k, v]) =>
        v && typeof v === 'object' ? keys(v, `${prefix}${k}.`) : [`${prefix}${k}`],
      )
    expect(keys(ko.datasets).sort()).toEqual(keys(en.datasets).sort())
    expect(ko.nav.datasets).toBe('데이터셋')
    // messages compile (e.g. the e-mail example's @ is escaped)
    setLocale('en')
    expect(i18n.global.t('datasets.modeHints.mask')).toContain('k***@example.com')
    expect(i18n.global.t('datasets.lineageMasked', { v: 1, entities: 'RRN, PHONE', mode: 'mask' })).toBe(
      'masked from v1 (RRN, PHONE · mask)',
    )
  })
})

describe('dataset detail, unknown id', () => {
  it('shows the not-found page, not an error in English', async () => {
    mockApi({
      'GET /api/dataset/nope': () =>
        json({ type: 'about:blank', title: 'Not Found', status: 404, detail: 'No such dataset.' }, 404),
      'GET /api/dataset/nope/versions': () =>
        json({ type: 'about:blank', title: 'Not Found', status: 404, detail: 'No such dataset.' }, 404),
    })
    await mountAt(DatasetDetailView, signIn(['datasets:read']), '/datasets/nope')
    const page = byTestId('not-found')!
    expect(page.textContent).toContain('데이터셋을(를) 찾을 수 없습니다')
    expect(document.body.textContent).not.toContain('No such dataset')
  }, 30_000)
})
