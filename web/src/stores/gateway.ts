import { defineStore } from 'pinia'
import { computed, ref, shallowRef } from 'vue'
import { api, unwrap } from '@/api/client'
import {
  fetchLogs,
  GatewayError,
  listModelStatus,
  type LogQuery,
  type ModelStatus,
  type RequestLog,
  streamChat,
  type ChatMessage,
  type ChatResult,
  type Provider,
  type ProviderCreate,
  type ProviderUpdate,
  type Route,
  type RouteCreate,
  type RoutePlan,
  type RouteUpdate,
} from '@/api/gateway'

/** The gateway's configuration (needs gateway:admin): providers (upstream servers) and routes (model name → targets). */
export const useGatewayStore = defineStore('gateway', () => {
  const providers = shallowRef<Provider[]>([])
  const routes = shallowRef<Route[]>([])
  const loading = ref(false)
  const error = ref<string | null>(null)

  const providerById = computed(() => new Map(providers.value.map((p) => [p.id, p])))
  const providerName = (id: string) => providerById.value.get(id)?.name ?? id.slice(0, 8)

  async function loadProviders() {
    providers.value = unwrap(await api.GET('/api/gateway/providers'))
  }

  async function loadRoutes() {
    routes.value = unwrap(await api.GET('/api/gateway/routes'))
  }

  async function load() {
    loading.value = true
    error.value = null
    try {
      await Promise.all([loadProviders(), loadRoutes()])
    } catch (e) {
      error.value = (e as Error).message
    } finally {
      loading.value = false
    }
  }

  async function createProvider(body: ProviderCreate): Promise<Provider> {
    const created = unwrap(await api.POST('/api/gateway/providers', { body }))
    await loadProviders()
    return created
  }

  async function updateProvider(id: string, body: ProviderUpdate): Promise<Provider> {
    const updated = unwrap(
      await api.PATCH('/api/gateway/providers/{provider_id}', { params: { path: { provider_id: id } }, body }),
    )
    providers.value = providers.value.map((p) => (p.id === id ? updated : p))
    return updated
  }

  /** Refused (409) while routes still use the provider; the error names them. */
  async function deleteProvider(id: string) {
    unwrap(await api.DELETE('/api/gateway/providers/{provider_id}', { params: { path: { provider_id: id } } }))
    providers.value = providers.value.filter((p) => p.id !== id)
  }

  async function createRoute(body: RouteCreate): Promise<Route> {
    const created = unwrap(await api.POST('/api/gateway/routes', { body }))
    await loadRoutes()
    return created
  }

  async function updateRoute(id: string, body: RouteUpdate): Promise<Route> {
    const updated = unwrap(
      await api.PATCH('/api/gateway/routes/{route_id}', { params: { path: { route_id: id } }, body }),
    )
    routes.value = routes.value.map((r) => (r.id === id ? updated : r))
    return updated
  }

  async function deleteRoute(id: string) {
    unwrap(await api.DELETE('/api/gateway/routes/{route_id}', { params: { path: { route_id: id } } }))
    routes.value = routes.value.filter((r) => r.id !== id)
  }

  /** Which upstreams a request for `model` would try now, in order (nothing is called). */
  async function dryRun(model: string): Promise<RoutePlan> {
    return unwrap(await api.POST('/api/router/route', { body: { model } }))
  }

  return {
    providers,
    routes,
    loading,
    error,
    providerName,
    load,
    loadProviders,
    loadRoutes,
    createProvider,
    updateProvider,
    deleteProvider,
    createRoute,
    updateRoute,
    deleteRoute,
    dryRun,
  }
})

export interface TurnStats {
  promptTokens: number | null
  completionTokens: number | null
  ttftMs: number | null
  latencyMs: number
  upstream: string | null
  cost: number | null
}

export interface ChatTurn {
  id: number
  role: 'user' | 'assistant'
  content: string
  streaming?: boolean
  stopped?: boolean
  error?: string
  /** A gateway refusal's HTTP status and OpenAI error code: the message shown is translated from these. */
  failure?: { status: number | null; code: string | null }
  stats?: TurnStats
}

/** The playground's conversation: kept while the user moves around the app, gone on reload. */
export const usePlaygroundStore = defineStore('playground', () => {
  const models = ref<string[]>([])
  /** Each model's route health; a model whose upstreams are all failing is marked in the picker. */
  const statuses = ref<ModelStatus[]>([])
  /** The unit of the cost shown under each reply. */
  const currency = ref('')
  const dead = computed(() => new Set(statuses.value.filter((m) => m.health === 'down').map((m) => m.name)))
  const modelsLoaded = ref(false)
  const modelsError = ref<string | null>(null)
  const model = ref<string | null>(null)
  const system = ref('')
  const temperature = ref(0.7)
  const maxTokens = ref<number | null>(null)
  /** Empty (the model's default) or a whole number of at least 1; the form says so and Send waits for it. */
  const maxTokensValid = computed(() => {
    const v = maxTokens.value as unknown
    return v === null || v === '' || v === undefined || (Number.isInteger(Number(v)) && Number(v) >= 1)
  })
  const messages = ref<ChatTurn[]>([])
  const busy = ref(false)
  let controller: AbortController | null = null
  let nextId = 1

  async function loadModels() {
    modelsError.value = null
    try {
      const answer = await listModelStatus()
      statuses.value = answer.models
      currency.value = answer.currency
      models.value = statuses.value.map((m) => m.name)
      const alive = models.value.filter((m) => !dead.value.has(m))
      if (!model.value || !models.value.includes(model.value)) model.value = alive[0] ?? models.value[0] ?? null
    } catch (e) {
      modelsError.value = (e as Error).message
    } finally {
      modelsLoaded.value = true
    }
  }

  /** What the model sees: the system prompt, then the turns so far (failed replies with no text left out). */
  function history(): ChatMessage[] {
    const turns = messages.value
      .filter((m) => m.content && !m.streaming)
      .map((m) => ({ role: m.role, content: m.content }) as ChatMessage)
    return system.value.trim() ? [{ role: 'system', content: system.value }, ...turns] : turns
  }

  async function send(text: string) {
    const content = text.trim()
    if (!content || !model.value || busy.value || !maxTokensValid.value) return
    messages.value.push({ id: nextId++, role: 'user', content })
    const body = {
      model: model.value,
      messages: history(),
      temperature: Number(temperature.value),
      ...(maxTokens.value ? { max_tokens: Number(maxTokens.value) } : {}),
    }
    messages.value.push({ id: nextId++, role: 'assistant', content: '', streaming: true })
    const reply = messages.value[messages.value.length - 1] // the reactive one: changes render as they come
    busy.value = true
    controller = new AbortController()
    const stats = (r: ChatResult) => ({
      promptTokens: r.usage?.prompt_tokens ?? null,
      completionTokens: r.usage?.completion_tokens ?? null,
      ttftMs: r.ttftMs,
      latencyMs: r.latencyMs,
      upstream: r.upstream,
      cost: r.cost,
    })
    try {
      const result = await streamChat(body, { signal: controller.signal, onDelta: (_, all) => (reply.content = all) })
      reply.content = result.text
      reply.stopped = result.stopped
      reply.stats = stats(result)
    } catch (e) {
      reply.error = (e as Error).message
      if (e instanceof GatewayError) reply.failure = { status: e.status, code: e.code }
      if (e instanceof GatewayError && e.partial) {
        reply.content = e.partial.text
        reply.stats = stats(e.partial)
      }
    } finally {
      reply.streaming = false
      busy.value = false
      controller = null
    }
  }

  function stop() {
    controller?.abort()
  }

  function clear() {
    stop()
    messages.value = []
  }

  return {
    models,
    statuses,
    currency,
    dead,
    modelsLoaded,
    modelsError,
    model,
    system,
    temperature,
    maxTokens,
    maxTokensValid,
    messages,
    busy,
    loadModels,
    send,
    stop,
    clear,
  }
})

/** The request log: one filtered list, paged by cursor ("Load more"), with the total the server counted. */
export const useRequestLogsStore = defineStore('requestLogs', () => {
  const items = shallowRef<RequestLog[]>([])
  const total = ref<number | null>(null)
  const totalAtLeast = ref<number | null>(null)
  const currency = ref('USD')
  const nextCursor = ref<string | null>(null)
  const loading = ref(false)
  const error = ref<string | null>(null)
  let query: LogQuery = {}
  let generation = 0

  /** The first page of `q` (a newer load wins over an older one still in flight), or the next page of the current query. */
  async function load(q?: LogQuery) {
    const more = q === undefined
    if (more && !nextCursor.value) return
    if (!more) query = q
    const mine = more ? generation : ++generation
    loading.value = true
    error.value = null
    try {
      const page = await fetchLogs(query, more ? nextCursor.value : null)
      if (mine !== generation) return
      items.value = more ? [...items.value, ...page.items] : page.items
      nextCursor.value = page.next_cursor ?? null
      currency.value = page.currency ?? 'USD'
      if (!more) {
        total.value = page.total ?? null
        totalAtLeast.value = page.total_at_least ?? null
      }
    } catch (e) {
      if (mine === generation) error.value = (e as Error).message
    } finally {
      if (mine === generation) loading.value = false
    }
  }

  return { items, total, totalAtLeast, currency, nextCursor, loading, error, load }
})
