// The inference gateway from the browser: the OpenAI-compatible /v1 API (models, streamed chat) and
// the usage metrics. The admin endpoints (providers, routes, dry run) are typed in schema.d.ts.
import { ApiError, authFetch, problemDetail, type Schemas } from './client'
import { call, failure } from './http'

export type Provider = Schemas['ProviderOut']
export type ProviderCreate = Schemas['ProviderCreate']
export type ProviderUpdate = Schemas['ProviderUpdate']
export type Route = Schemas['RouteOut']
export type RouteCreate = Schemas['RouteCreate']
export type RouteUpdate = Schemas['RouteUpdate']
export type Target = Schemas['TargetSpec']
export type RoutePlan = Schemas['RoutePlan']
export type PlannedTarget = Schemas['PlannedTarget']
export type Strategy = RouteCreate['strategy']
export type Circuit = PlannedTarget['circuit']
export type UpstreamHealth = Schemas['UpstreamHealth']
export type RouteHealth = Route['health']
export type ModelStatus = Schemas['ModelStatus']
export type ModelStatusList = Schemas['ModelStatusList']
export type RequestLog = Schemas['RequestLogOut']
export type RequestLogPage = Schemas['RequestLogPage']

export const STRATEGIES: Strategy[] = ['weighted', 'round_robin', 'least_inflight', 'lowest_latency', 'lowest_cost']
/** What the gateway counts tokens with when an upstream reports none (besides registry references `name@alias`, `name:3`). */
export const ENCODINGS = ['o200k_base', 'cl100k_base', 'p50k_base', 'p50k_edit', 'r50k_base', 'gpt2']

/**
 * The price per 1M tokens of a target priced by the GPU-hour (what the gateway derives when no
 * explicit price is given): GPU time per million tokens at the deployment's throughput; null
 * unless all three figures are positive.
 */
export function gpuPricePerMillion(t: {
  gpu_hour_price?: number | null
  gpus?: number | null
  throughput_tokens_per_s?: number | null
}): number | null {
  const [price, gpus, rate] = [Number(t.gpu_hour_price), Number(t.gpus), Number(t.throughput_tokens_per_s)]
  if (!(price > 0 && gpus > 0 && rate > 0)) return null
  return (price * gpus) / ((rate * 3600) / 1e6)
}

/** GPU-hour pricing takes all three figures (positive) or none. */
export function gpuPricingIncomplete(t: {
  gpu_hour_price?: number | null
  gpus?: number | null
  throughput_tokens_per_s?: number | null
}): boolean {
  const given = [t.gpu_hour_price, t.gpus, t.throughput_tokens_per_s].filter(
    (v) => v !== null && v !== undefined && (v as unknown) !== '',
  )
  return given.length > 0 && gpuPricePerMillion(t) === null
}
export const CIRCUIT_COLOR: Record<Circuit, string> = { closed: 'success', half_open: 'warning', open: 'error' }

// ---------------------------------------------------------------------------------------------
// Server-sent events

/**
 * An incremental server-sent-events parser (the WHATWG rules that matter here): feed it text as it
 * arrives, in pieces of any size; it calls `onData` with each event's data and name (`message`
 * unless an `event:` line names it) once the blank line that ends the event has arrived. Multi-line
 * data is joined with "\n"; comments and the id and retry fields are skipped. `end()` dispatches an
 * event the stream did not terminate.
 */
export class SseParser {
  private buffer = ''
  private name = 'message'
  private data: string[] = []

  constructor(private readonly onData: (data: string, event: string) => void) {}

  push(text: string) {
    this.buffer += text
    let newline: number
    while ((newline = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, newline).replace(/\r$/, '')
      this.buffer = this.buffer.slice(newline + 1)
      this.line(line)
    }
  }

  end() {
    if (this.buffer) this.line(this.buffer.replace(/\r$/, ''))
    this.buffer = ''
    this.dispatch()
  }

  private line(line: string) {
    if (line === '') return this.dispatch()
    if (line.startsWith(':')) return
    const colon = line.indexOf(':')
    const field = colon < 0 ? line : line.slice(0, colon)
    let value = colon < 0 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'event') this.name = value
    else if (field === 'data') this.data.push(value)
  }

  private dispatch() {
    const name = this.name
    this.name = 'message'
    if (!this.data.length) return
    const data = this.data.join('\n')
    this.data = []
    this.onData(data, name)
  }
}

/** Follow a server-sent-events endpoint of the API (with the session's token) until it ends or `signal` aborts. */
export async function followEvents(path: string, onData: (data: string) => void, signal: AbortSignal): Promise<void> {
  const response = await authFetch(new Request(`${window.location.origin}${path}`, { signal }))
  if (!response.ok || !response.body) return
  const parser = new SseParser(onData)
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    parser.push(value)
  }
  parser.end()
}

// ---------------------------------------------------------------------------------------------
// Chat

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant'
  content: string
}

export interface ChatRequest {
  model: string
  messages: ChatMessage[]
  temperature?: number
  max_tokens?: number
}

export interface TokenUsage {
  prompt_tokens: number
  completion_tokens: number
  /** What the call cost, in the route's price unit (the gateway adds it to a stream's usage chunk). */
  cost?: number | null
}

export interface ChatResult {
  text: string
  usage: TokenUsage | null
  /** What the call cost (the usage chunk's `cost`, or the `x-axops-cost` header of a plain answer); null when unknown. */
  cost: number | null
  /** The upstream that answered (the gateway's `x-axops-upstream` header). */
  upstream: string | null
  /** Until the first piece of text arrived. */
  ttftMs: number | null
  latencyMs: number
  /** Ended by the caller's abort signal; `text` holds what had arrived. */
  stopped: boolean
}

export interface StreamHandlers {
  signal?: AbortSignal
  /** Each piece of text as it arrives, with all the text so far. */
  onDelta?: (piece: string, text: string) => void
  onUsage?: (usage: TokenUsage) => void
}

/** A refusal or failure of the gateway (OpenAI's error shape); `partial` holds what had streamed before it. */
export class GatewayError extends Error {
  constructor(
    message: string,
    readonly status: number | null = null,
    readonly code: string | null = null,
    public partial: ChatResult | null = null,
  ) {
    super(message)
  }
}

interface OpenAiError {
  error?: { message?: string; type?: string; code?: string | null }
}

/** The message of a failed /v1 response: OpenAI's `error.message`, else a problem's `detail`, else the status. */
async function gatewayFailure(response: Response): Promise<GatewayError> {
  let body: unknown = null
  try {
    body = await response.json()
  } catch {
    /* not JSON */
  }
  const error = (body as OpenAiError | null)?.error
  const message = error?.message ?? problemDetail(body, `${response.status} ${response.statusText}`.trim())
  return new GatewayError(message, response.status, error?.code ?? null)
}

const now = () => performance.now()
const isAbort = (e: unknown, signal?: AbortSignal) =>
  !!signal?.aborted || (e instanceof DOMException && e.name === 'AbortError')

/**
 * A chat completion streamed through the gateway: calls `onDelta` as text arrives and resolves
 * with the whole reply, its token usage, the upstream that served it and its timings. Aborting
 * `signal` stops it (resolving with what had arrived, `stopped: true`). Throws GatewayError on a
 * refusal, an error event in the stream or a broken connection.
 */
export async function streamChat(
  body: ChatRequest,
  { signal, onDelta, onUsage }: StreamHandlers = {},
): Promise<ChatResult> {
  const started = now()
  const result: ChatResult = {
    text: '',
    usage: null,
    cost: null,
    upstream: null,
    ttftMs: null,
    latencyMs: 0,
    stopped: false,
  }
  const finish = () => ({ ...result, latencyMs: Math.round(now() - started) })
  const request = new Request(`${window.location.origin}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
    body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
    signal,
  })
  let response: Response
  try {
    response = await authFetch(request)
  } catch (e) {
    if (isAbort(e, signal)) return { ...finish(), stopped: true }
    throw new GatewayError(e instanceof Error ? e.message : 'Network error')
  }
  if (!response.ok) throw await gatewayFailure(response)
  result.upstream = response.headers.get('x-axops-upstream')

  const text = (piece: string) => {
    if (!piece) return
    result.ttftMs ??= Math.round(now() - started)
    result.text += piece
    onDelta?.(piece, result.text)
  }
  const usage = (u: Partial<TokenUsage> | null | undefined) => {
    if (!u) return
    result.usage = { prompt_tokens: Number(u.prompt_tokens ?? 0), completion_tokens: Number(u.completion_tokens ?? 0) }
    if (typeof u.cost === 'number') result.cost = u.cost
    onUsage?.(result.usage)
  }

  // Not a stream after all (an upstream that ignored `stream`): one JSON completion.
  if (!response.body || (response.headers.get('content-type') ?? '').includes('application/json')) {
    const data = (await response.json()) as {
      choices?: { message?: { content?: string } }[]
      usage?: TokenUsage
    } & OpenAiError
    if (data.error)
      throw new GatewayError(data.error.message ?? 'Gateway error', response.status, data.error.code ?? null)
    text(data.choices?.[0]?.message?.content ?? '')
    usage(data.usage)
    const cost = response.headers.get('x-axops-cost')
    if (cost !== null && cost !== '' && !Number.isNaN(Number(cost))) result.cost = Number(cost)
    return finish()
  }

  let done = false
  let failed: GatewayError | null = null
  const parser = new SseParser((data) => {
    if (done) return
    if (data.trim() === '[DONE]') {
      done = true
      return
    }
    let chunk: { choices?: { delta?: { content?: string | null } }[]; usage?: TokenUsage | null } & OpenAiError
    try {
      chunk = JSON.parse(data)
    } catch {
      return // not ours to understand (a keep-alive, say)
    }
    if (chunk.error) {
      failed = new GatewayError(chunk.error.message ?? 'The stream failed', response.status, chunk.error.code ?? null)
      done = true
      return
    }
    for (const choice of chunk.choices ?? []) text(choice.delta?.content ?? '')
    usage(chunk.usage)
  })

  const reader = response.body.getReader()
  const decoder = new TextDecoder()
  try {
    while (!done) {
      const { value, done: ended } = await reader.read()
      if (ended) break
      parser.push(decoder.decode(value, { stream: true }))
    }
    if (!done) {
      parser.push(decoder.decode())
      parser.end()
    }
  } catch (e) {
    if (isAbort(e, signal)) result.stopped = true
    else
      failed = new GatewayError(`The stream broke off: ${e instanceof Error ? e.message : String(e)}`, response.status)
  } finally {
    if (done || result.stopped || failed) reader.cancel().catch(() => undefined)
  }
  if (failed) {
    const error = failed as GatewayError
    error.partial = finish()
    throw error
  }
  return finish()
}

/** The models this session may call, each with its route's health (down: every upstream failing). */
export async function listModelStatus(): Promise<ModelStatusList> {
  const response = await call('GET', '/api/inference/models/status')
  if (!response.ok) throw new ApiError(await failure(response))
  return (await response.json()) as ModelStatusList
}

/** The model names this session may call (OpenAI's model list). */
export async function listModels(): Promise<string[]> {
  const response = await authFetch(new Request(`${window.location.origin}/v1/models`))
  if (!response.ok) throw await gatewayFailure(response)
  const body = (await response.json()) as { data?: { id: string }[] }
  return (body.data ?? []).map((m) => m.id)
}

// ---------------------------------------------------------------------------------------------
// Usage metrics (GET /api/metrics/usage; typed by hand until the schema has it)

export type Bucket = 'hour' | 'day'
export type GroupBy = 'model' | 'api_key' | 'user' | 'team' | 'upstream'
export const GROUP_BYS: GroupBy[] = ['model', 'api_key', 'user', 'team', 'upstream']

export interface UsageTotals {
  /** A model name, user name, team name, key ("name (prefix)") or upstream. */
  group: string
  requests: number
  errors: number
  prompt_tokens: number
  completion_tokens: number
  cost: number
  p50_ms: number | null
  p95_ms: number | null
  cache_hits: number
}

export interface UsagePoint extends UsageTotals {
  /** The bucket's start. */
  ts: string
}

export interface Usage {
  /** The unit of every cost figure. */
  currency: string
  bucket: Bucket
  group_by: GroupBy
  since?: string
  until?: string
  series: UsagePoint[]
  totals: UsageTotals[]
}

export interface UsageQuery {
  since: string
  until: string
  bucket: Bucket
  group_by: GroupBy
  model?: string
}

/** Usage per time bucket and group (only the caller's own without gateway:admin). */
export async function fetchUsage(query: UsageQuery): Promise<Usage> {
  const params = new URLSearchParams(
    Object.entries(query).filter(([, v]) => v !== undefined && v !== '') as [string, string][],
  )
  const response = await call('GET', `/api/metrics/usage?${params}`)
  if (!response.ok) throw new ApiError(await failure(response))
  return (await response.json()) as Usage
}

// ---------------------------------------------------------------------------------------------
// Request logs (GET /api/gateway/logs)

/** The filters of the request log, as they appear in the page's URL query and the API's. */
export interface LogQuery {
  model?: string
  upstream?: string
  api_key_id?: string
  user_id?: string
  outcome?: 'ok' | 'error'
  status?: number
  since?: string
  until?: string
  content?: boolean
  /** Text in the masked request or answer (2-200 characters) */
  q?: string
}

/** One page of gateway requests, newest first (the first page carries the total). */
export async function fetchLogs(query: LogQuery, cursor?: string | null, limit = 50): Promise<RequestLogPage> {
  const params = new URLSearchParams()
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') params.set(k, String(v))
  if (cursor) params.set('cursor', cursor)
  params.set('limit', String(limit))
  const response = await call('GET', `/api/gateway/logs?${params}`)
  if (!response.ok) throw new ApiError(await failure(response))
  return (await response.json()) as RequestLogPage
}

export async function fetchLog(id: string): Promise<RequestLog> {
  const response = await call('GET', `/api/gateway/logs/${encodeURIComponent(id)}`)
  if (!response.ok) throw new ApiError(await failure(response))
  return (await response.json()) as RequestLog
}
