import { defineStore } from 'pinia'
import { computed, ref, shallowRef } from 'vue'
import { api, authFetch, unwrap, ApiError, problemDetail, type Schemas } from '@/api/client'
import {
  isWorking,
  type Dataset,
  type DatasetVersion,
  type Diff,
  type DiffKind,
  type RowsPage,
  type VersionDetail,
} from '@/api/datasets'
import { useAuthStore } from './auth'
import { PAGE_SIZE, useCursorList } from './paging'

/** The dataset list (needs datasets:read): searched by name and description, cursor-paginated. */
export const useDatasetsStore = defineStore('datasets', () => {
  const search = ref('')
  /** The search the loaded list answers (the box may have moved on while typing). */
  const searched = ref('')
  const error = ref<string | null>(null)
  const loaded = ref(false)
  const list = useCursorList<Dataset>(async (cursor) => {
    const q = search.value.trim()
    const page = unwrap(
      await api.GET('/api/dataset', { params: { query: { q: q || undefined, limit: PAGE_SIZE, cursor } } }),
    )
    searched.value = q
    return page
  })
  /** Load (or load more); a failure is kept for the page's error state instead of thrown. */
  async function fetch(more = false) {
    try {
      await list.load(more)
      error.value = null
      loaded.value = true
    } catch (e) {
      error.value = problemDetail(e)
    }
  }
  return { search, searched, error, loaded, fetch, ...list }
})

/** Raw rows the caller may not read: the page says why in its own words, from the level. */
export class RowsForbidden extends Error {
  constructor(public level: string | null) {
    super('rows forbidden')
  }
}

const POLL_MS = 2000

/** What tells that a version's reports or review changed (its updated_at moves with every progress beat). */
const signature = (v: DatasetVersion) =>
  [
    v.status,
    isWorking(v),
    v.review_status,
    v.sensitivity,
    v.quality_warnings,
    JSON.stringify(v.pii_entities),
    v.error,
  ].join('|')

/** One dataset's page: the dataset, its versions, the selected version's reports, and what can be done to them. */
export const useDatasetStore = defineStore('dataset', () => {
  const auth = useAuthStore()
  const dataset = ref<Dataset | null>(null)
  /** The id is unknown (or the dataset is another team's): the page shows "not found", not an error. */
  const missing = ref(false)
  const versions = shallowRef<DatasetVersion[]>([])
  const selectedId = ref<string | null>(null)
  const detail = shallowRef<VersionDetail | null>(null)
  let poller: ReturnType<typeof setInterval> | null = null
  let detailLoading: Promise<void> | null = null

  const selected = computed(() => versions.value.find((v) => v.id === selectedId.value) ?? null)
  const busy = computed(() => versions.value.some(isWorking))
  /** Writers need datasets:write and a seat in the dataset's team (admins see every team). */
  const canWrite = computed(() => {
    const d = dataset.value
    if (!d || !auth.can('datasets:write')) return false
    return auth.user?.role === 'admin' || !!auth.user?.teams.some((team) => team.id === d.team_id)
  })
  const canApprove = computed(() => auth.can('datasets:approve'))
  const canOverride = computed(() => auth.can('datasets:override_pii'))

  const byId = (id: string | null | undefined) => versions.value.find((v) => v.id === id) ?? null

  async function open(id: string) {
    stopPolling()
    missing.value = false
    if (dataset.value?.id !== id) {
      dataset.value = null
      versions.value = []
      selectedId.value = null
      detail.value = null
    }
    const versionsLoaded = loadVersions(id)
    const answer = await api.GET('/api/dataset/{dataset_id}', { params: { path: { dataset_id: id } } })
    if (answer.response.status === 404 || answer.response.status === 422) {
      missing.value = true
      await versionsLoaded.catch(() => undefined)
      return
    }
    dataset.value = unwrap(answer)
    await versionsLoaded
    if (!byId(selectedId.value)) selectedId.value = defaultSelection()
    await loadDetail()
    watchProcessing()
  }

  function defaultSelection(): string | null {
    return (
      (
        versions.value.find((v) => v.status === 'ready') ??
        versions.value.find((v) => v.status === 'processing') ??
        versions.value[0]
      )?.id ?? null
    )
  }

  async function loadDataset(id = dataset.value?.id) {
    if (!id) return
    dataset.value = unwrap(await api.GET('/api/dataset/{dataset_id}', { params: { path: { dataset_id: id } } }))
  }

  async function loadVersions(id = dataset.value?.id) {
    if (!id) return
    versions.value = unwrap(
      await api.GET('/api/dataset/{dataset_id}/versions', { params: { path: { dataset_id: id } } }),
    )
  }

  /** The selected version with its quality and PII reports. */
  async function loadDetail() {
    const id = selectedId.value
    if (!id) {
      detail.value = null
      return
    }
    const work = (async () => {
      const loaded = unwrap(
        await api.GET('/api/dataset/version/{version_id}', { params: { path: { version_id: id } } }),
      )
      if (selectedId.value === id) detail.value = loaded
    })()
    detailLoading = work
    try {
      await work
    } finally {
      if (detailLoading === work) detailLoading = null
    }
  }

  async function select(id: string | null) {
    if (selectedId.value === id && detail.value?.id === id) return
    selectedId.value = id
    if (detail.value?.id !== id) detail.value = null
    await loadDetail()
  }

  /** Versions again; the selected one's reports again when it changed (e.g. its scan finished). */
  async function refresh() {
    await loadVersions()
    const current = selected.value
    if (current && (!detail.value || signature(detail.value) !== signature(current)) && !detailLoading)
      await loadDetail()
  }

  /** Refresh every 2 s while any version is being processed, so progress and reports appear on their own. */
  function watchProcessing() {
    if (poller || !busy.value) return
    poller = setInterval(() => void pollOnce(), POLL_MS)
  }

  async function pollOnce() {
    try {
      await refresh()
    } catch {
      /* a missed beat; the next one tries again */
    }
    if (!busy.value) {
      stopPolling()
      await loadDataset().catch(() => undefined)
    }
  }

  function stopPolling() {
    if (poller) clearInterval(poller)
    poller = null
  }

  /** After an action that made or changed versions: reload, select, follow the processing. */
  async function changed(selectId?: string) {
    await Promise.all([loadDataset(), loadVersions()])
    if (selectId) await select(selectId)
    else await refresh()
    watchProcessing()
  }

  async function update(body: Schemas['DatasetUpdate']) {
    const id = dataset.value!.id
    dataset.value = unwrap(await api.PATCH('/api/dataset/{dataset_id}', { params: { path: { dataset_id: id } }, body }))
  }

  async function scan(versionId: string) {
    const id = dataset.value!.id
    unwrap(
      await api.POST('/api/dataset/{dataset_id}/scan/pii', {
        params: { path: { dataset_id: id } },
        body: { version_id: versionId },
      }),
    )
    await changed()
  }

  async function mask(versionId: string, body: Schemas['MaskRequest']): Promise<DatasetVersion> {
    const version = unwrap(
      await api.POST('/api/dataset/version/{version_id}/mask', { params: { path: { version_id: versionId } }, body }),
    )
    await changed(version.id)
    return version
  }

  async function split(versionId: string, body: Schemas['SplitRequest']): Promise<DatasetVersion[]> {
    const created = unwrap(
      await api.POST('/api/dataset/version/{version_id}/split', { params: { path: { version_id: versionId } }, body }),
    )
    await changed()
    return created
  }

  async function review(versionId: string, body: Schemas['ReviewRequest']): Promise<DatasetVersion> {
    const version = unwrap(
      await api.POST('/api/dataset/version/{version_id}/review', { params: { path: { version_id: versionId } }, body }),
    )
    await changed()
    return version
  }

  /** A page of raw rows; RowsForbidden when the caller's role or team may not read this level's values. */
  async function rows(versionId: string, offset: number, limit: number): Promise<RowsPage> {
    const answer = await api.GET('/api/dataset/version/{version_id}/rows', {
      params: { path: { version_id: versionId }, query: { offset, limit } },
    })
    if (answer.response.status === 403) {
      const level = (answer.error as { sensitivity?: unknown } | undefined)?.sensitivity
      throw new RowsForbidden(typeof level === 'string' ? level : null)
    }
    return unwrap(answer)
  }

  async function diff(from: string, to: string, kind: DiffKind, offset: number, limit: number): Promise<Diff> {
    const query = { from, to, kind, offset, limit }
    return unwrap(
      await api.GET('/api/dataset/{dataset_id}/diff', { params: { path: { dataset_id: dataset.value!.id }, query } }),
    )
  }

  /** The version's file (the original upload, or its Parquet copy), fetched with the bearer token. */
  async function download(
    version: DatasetVersion,
    format: 'original' | 'parquet',
  ): Promise<{ blob: Blob; name: string }> {
    const response = await authFetch(
      new Request(`${window.location.origin}/api/dataset/version/${version.id}/download?format=${format}`),
    )
    if (!response.ok) {
      const problem = await response.json().catch(() => null)
      throw new ApiError(problemDetail(problem, `${response.status} ${response.statusText}`))
    }
    const disposition = response.headers.get('Content-Disposition') ?? ''
    const encoded = /filename\*=UTF-8''([^;]+)/i.exec(disposition)?.[1]
    const name = encoded ? decodeURIComponent(encoded) : `${dataset.value?.name}-v${version.version}`
    return { blob: await response.blob(), name }
  }

  return {
    dataset,
    missing,
    versions,
    selectedId,
    selected,
    detail,
    busy,
    canWrite,
    canApprove,
    canOverride,
    byId,
    open,
    loadDataset,
    loadVersions,
    loadDetail,
    select,
    refresh,
    watchProcessing,
    stopPolling,
    changed,
    update,
    scan,
    mask,
    split,
    review,
    rows,
    diff,
    download,
  }
})
