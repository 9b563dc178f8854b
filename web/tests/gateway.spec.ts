import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { VueWrapper } from '@vue/test-utils'
import type { Component } from 'vue'
import { mount } from '@vue/test-utils'
import { createVuetify } from 'vuetify'
import * as components from 'vuetify/components'
import * as directives from 'vuetify/directives'
import { createMemoryHistory, createRouter } from 'vue-router'
import type { Pinia } from 'pinia'
import { i18n, setLocale } from '@/i18n'
import en from '@/i18n/en'
import ko from '@/i18n/ko'
import { GatewayError, SseParser, streamChat, type UsagePoint } from '@/api/gateway'
import { useAuthStore } from '@/stores/auth'
import { usePlaygroundStore } from '@/stores/gateway'
import PlaygroundView from '@/views/gateway/PlaygroundView.vue'
import GatewayRoutesView from '@/views/gateway/GatewayRoutesView.vue'
import UsageView from '@/views/gateway/UsageView.vue'
import { OTHER, pivot, summarize, timeline } from '@/views/gateway/usage'
import { byTestId, freshPinia, json, mockApi, settle, signIn as signInAs } from './helpers'

// jsdom has no canvas: charts render as placeholders that keep their options.
vi.mock('vue-echarts', async () => {
  const { defineComponent, h } = await import('vue')
  return {
    default: defineComponent({
      name: 'VChart',
      props: { option: { type: Object, default: null } },
      render() {
        return h('div', { class: 'chart-stub', 'data-option': JSON.stringify(this.option) })
      },
    }),
  }
})

const NOW = '2026-03-01T09:00:00Z'
const encoder = new TextEncoder()

/** A response body the test feeds by hand, piece by piece (bytes may split anywhere, even inside a character). */
function feed() {
  let controller!: ReadableStreamDefaultController<Uint8Array>
  const stream = new ReadableStream<Uint8Array>({
    start: (c) => {
      controller = c
    },
  })
  return {
    stream,
    text: (s: string) => controller.enqueue(encoder.encode(s)),
    bytes: (b: Uint8Array) => controller.enqueue(b),
    close: () => controller.close(),
    fail: (e: unknown) => controller.error(e),
  }
}

const sse = (body: ReadableStream<Uint8Array>, upstream = 'vllm-a/llama-3-8b') =>
  new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream', 'x-axops-upstream': upstream } })
const delta = (content: string) =>
  `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content } }] })}\n\n`
const usageChunk = (p: number, c: number, cost?: number) =>
  `data: ${JSON.stringify({ id: 'c1', choices: [], usage: { prompt_tokens: p, completion_tokens: c, total_tokens: p + c, cost } })}\n\n`

/** The whole reply as one string of SSE, for tests that cut it at chosen places. */
const REPLY =
  `: keep-alive\n\ndata: ${JSON.stringify({ choices: [{ index: 0, delta: { role: 'assistant', content: '' } }] })}\n\n` +
  delta('안녕') +
  delta('하세요') +
  delta(', axops!') +
  usageChunk(12, 5) +
  'data: [DONE]\n\n'

let wrapper: VueWrapper | null = null

beforeEach(() => {
  vi.restoreAllMocks()
  setLocale('ko')
})
afterEach(() => {
  wrapper?.unmount()
  wrapper = null
  document.body.innerHTML = ''
})

const signIn = (permissions: string[]) => signInAs(permissions, { role: 'admin', created_at: NOW })

async function mountAt(view: Component, pinia: Pinia) {
  const router = createRouter({
    history: createMemoryHistory(),
    routes: [{ path: '/:p(.*)*', component: { template: '<div />' } }],
  })
  await router.push('/')
  await router.isReady()
  wrapper = mount(
    { template: '<v-app><v-main><View /></v-main></v-app>', components: { View: view } },
    { global: { plugins: [pinia, router, i18n, createVuetify({ components, directives })] }, attachTo: document.body },
  )
  await settle()
}

const all = (testid: string) => [...document.querySelectorAll<HTMLElement>(`[data-testid="${testid}"]`)]

describe('SSE parser', () => {
  it('joins events split anywhere across reads, skips comments, ends an unterminated event', () => {
    const events: string[] = []
    const parser = new SseParser((d) => events.push(d))
    const text =
      ': ping\r\n\r\ndata: {"a":1}\r\n\r\ndata: line one\ndata: line two\n\nevent: x\nid: 3\ndata:no-space\n\ndata: tail'
    for (const ch of text) parser.push(ch) // one character per read: the worst split there is
    expect(events).toEqual(['{"a":1}', 'line one\nline two', 'no-space'])
    parser.end()
    expect(events).toEqual(['{"a":1}', 'line one\nline two', 'no-space', 'tail'])
  })

  it("passes each event's name, message unless named, and forgets it after the event", () => {
    const events: [string, string][] = []
    const parser = new SseParser((d, name) => events.push([name, d]))
    parser.push('event: step\ndata: 1\n\ndata: 2\n\nevent: lonely\n\ndata: 3\n\n')
    expect(events).toEqual([
      ['step', '1'],
      ['message', '2'],
      ['message', '3'],
    ])
  })
})

describe('streamChat', () => {
  beforeEach(() => {
    freshPinia()
    useAuthStore().access = 'token-x'
  })

  it('streams deltas split across reads (even inside a UTF-8 character), reads the usage chunk, stops at [DONE]', async () => {
    const body = feed()
    const calls = mockApi({ 'POST /v1/chat/completions': () => sse(body.stream) })
    const bytes = encoder.encode(REPLY + delta('never read'))
    const cuts = [3, 40, 97, 98, 150, 182, 185, 233, bytes.length] // 182 and 185 fall inside 안 and 녕
    let at = 0
    for (const cut of cuts) {
      body.bytes(bytes.slice(at, cut))
      at = cut
    }
    const pieces: string[] = []
    const onUsage = vi.fn()
    const result = await streamChat(
      { model: 'chat', messages: [{ role: 'user', content: 'hi' }], temperature: 0.2 },
      { onDelta: (piece) => pieces.push(piece), onUsage },
    )
    expect(pieces).toEqual(['안녕', '하세요', ', axops!'])
    expect(result.text).toBe('안녕하세요, axops!')
    expect(result.usage).toEqual({ prompt_tokens: 12, completion_tokens: 5 })
    expect(onUsage).toHaveBeenCalledWith({ prompt_tokens: 12, completion_tokens: 5 })
    expect(result.upstream).toBe('vllm-a/llama-3-8b')
    expect(result.stopped).toBe(false)
    expect(result.ttftMs).toBeGreaterThanOrEqual(0)
    expect(result.latencyMs).toBeGreaterThanOrEqual(result.ttftMs!)
    expect(calls[0].auth).toBe('Bearer token-x')
    expect(calls[0].body).toEqual({
      model: 'chat',
      messages: [{ role: 'user', content: 'hi' }],
      temperature: 0.2,
      stream: true,
      stream_options: { include_usage: true },
    })
  })

  it('throws the error event of a stream that broke off, keeping the text so far', async () => {
    const body = feed()
    mockApi({ 'POST /v1/chat/completions': () => sse(body.stream) })
    body.text(delta('부분 '))
    body.text(
      'data: {"error": {"message": "The upstream model server broke off the stream.", "type": "api_error", "code": "upstream_error"}}\n\n',
    )
    body.close()
    const error = await streamChat({ model: 'chat', messages: [] }).catch((e) => e)
    expect(error).toBeInstanceOf(GatewayError)
    expect(error.message).toBe('The upstream model server broke off the stream.')
    expect(error.code).toBe('upstream_error')
    expect(error.partial.text).toBe('부분 ')
  })

  it('reads the cost: `usage.cost` of the usage chunk, or the x-axops-cost header of a plain answer', async () => {
    const body = feed()
    mockApi({ 'POST /v1/chat/completions': () => sse(body.stream) })
    body.text(delta('hi') + usageChunk(3, 1, 0.0000125) + 'data: [DONE]\n\n')
    expect((await streamChat({ model: 'chat', messages: [] })).cost).toBe(0.0000125)

    const answer = { choices: [{ message: { content: 'hi' } }], usage: { prompt_tokens: 3, completion_tokens: 1 } }
    mockApi({
      'POST /v1/chat/completions': () =>
        new Response(JSON.stringify(answer), {
          headers: { 'content-type': 'application/json', 'x-axops-cost': '2.5e-05' },
        }),
    })
    const plain = await streamChat({ model: 'chat', messages: [] })
    expect([plain.text, plain.cost]).toEqual(['hi', 0.000025])
    mockApi({ 'POST /v1/chat/completions': () => json(answer) }) // counted later by the gateway: no cost yet
    expect((await streamChat({ model: 'chat', messages: [] })).cost).toBeNull()
  })

  it("reports a refusal before the stream with OpenAI's error message", async () => {
    mockApi({
      'POST /v1/chat/completions': () =>
        json(
          {
            error: {
              message: "The model 'x' does not exist or you do not have access to it.",
              type: 'invalid_request_error',
              code: 'model_not_found',
            },
          },
          404,
        ),
    })
    const error = await streamChat({ model: 'x', messages: [] }).catch((e) => e)
    expect(error).toBeInstanceOf(GatewayError)
    expect(error.status).toBe(404)
    expect(error.code).toBe('model_not_found')
    expect(error.message).toContain("The model 'x' does not exist")
  })

  it('stops on abort and keeps what had arrived', async () => {
    const body = feed()
    vi.spyOn(globalThis, 'fetch').mockImplementation(async (input) => {
      const request = input as Request
      request.signal.addEventListener('abort', () =>
        body.fail(new DOMException('The operation was aborted.', 'AbortError')),
      )
      return sse(body.stream)
    })
    const controller = new AbortController()
    body.text(delta('첫 문장.'))
    const result = await streamChat(
      { model: 'chat', messages: [] },
      {
        signal: controller.signal,
        onDelta: () => controller.abort(),
      },
    )
    expect(result.stopped).toBe(true)
    expect(result.text).toBe('첫 문장.')
  })
})

describe('usage helpers', () => {
  const point = (ts: string, group: string, requests: number, over: Partial<UsagePoint> = {}): UsagePoint => ({
    ts,
    group,
    requests,
    errors: 0,
    prompt_tokens: 0,
    completion_tokens: 0,
    cost: 0,
    p50_ms: 100,
    p95_ms: 200,
    cache_hits: 0,
    ...over,
  })

  it('fills quiet buckets with zero and sums groups beyond the top ones as other', () => {
    const series = [
      point('2026-03-01T06:00:00Z', 'a', 2),
      point('2026-03-01T08:00:00Z', 'a', 1),
      point('2026-03-01T08:00:00Z', 'b', 4),
      point('2026-03-01T08:00:00Z', 'c', 5),
    ]
    const keys = timeline(series, 'hour', '2026-03-01T05:30:00Z', '2026-03-01T09:10:00Z')
    expect(keys.map((k) => new Date(k).toISOString().slice(11, 13))).toEqual(['05', '06', '07', '08', '09'])
    const requests = pivot(series, keys, (p) => p.requests, ['a', 'b'])
    expect(requests.get('a')).toEqual([0, 2, 0, 1, 0])
    expect(requests.get('b')).toEqual([0, 0, 0, 4, 0])
    expect(requests.get(OTHER)).toEqual([0, 0, 0, 5, 0])
  })

  it('keeps the server buckets when they are not on UTC boundaries', () => {
    const series = [point('2026-03-01T00:00:00+09:00', 'a', 1)]
    expect(timeline(series, 'day', '2026-02-27T09:00:00Z', '2026-03-01T09:00:00Z')).toEqual([
      Date.parse('2026-03-01T00:00:00+09:00'),
    ])
  })

  it('sums the totals and names the slowest group for p95', () => {
    const s = summarize([
      { ...point(NOW, 'a', 8, { errors: 1, prompt_tokens: 100, completion_tokens: 10, cost: 0.5, p95_ms: 300 }) },
      { ...point(NOW, 'b', 2, { errors: 1, prompt_tokens: 50, completion_tokens: 5, cost: 0.25, p95_ms: 900 }) },
    ])
    expect(s).toMatchObject({
      requests: 10,
      errors: 2,
      errorRate: 0.2,
      promptTokens: 150,
      completionTokens: 15,
      cost: 0.75,
      p95: { ms: 900, group: 'b' },
    })
  })
})

describe('playground', () => {
  it('streams a reply into an assistant message, then shows its tokens, timings and upstream', async () => {
    const body = feed()
    const calls = mockApi({
      'GET /api/inference/models/status': () => ({
        currency: 'USD',
        models: [
          { name: 'chat-small', health: 'healthy' },
          { name: 'chat-large', health: 'unknown' },
        ],
      }),
      'POST /v1/chat/completions': () => sse(body.stream),
    })
    await mountAt(PlaygroundView, signIn(['gateway:invoke']))
    const store = usePlaygroundStore()
    expect(store.model).toBe('chat-small')
    expect(byTestId('playground-model')!.textContent).toContain('chat-small')
    store.system = '짧게 답하세요.'

    const input = byTestId('playground-input') as HTMLTextAreaElement
    expect(input.tagName).toBe('TEXTAREA')
    input.value = '안녕?'
    input.dispatchEvent(new Event('input'))
    await settle()
    byTestId('playground-send')!.click()
    await settle()

    const messages = () => all('playground-message')
    expect(messages().map((m) => m.dataset.role)).toEqual(['user', 'assistant'])
    expect(messages()[0].textContent).toContain('안녕?')
    expect(byTestId('playground-stop')).not.toBeNull()
    expect(byTestId('playground-send')).toBeNull()

    body.text(delta('안녕'))
    await settle()
    expect(messages()[1].querySelector('[data-testid="playground-message-text"]')!.textContent).toContain('안녕')
    expect(messages()[1].dataset.streaming).toBe('true')

    body.text(delta('하세요!') + usageChunk(21, 4, 0.0000345) + 'data: [DONE]\n\n')
    await settle()
    await settle()
    const reply = messages()[1]
    expect(reply.dataset.streaming).toBe('false')
    expect(reply.querySelector('[data-testid="playground-message-text"]')!.textContent).toBe('안녕하세요!')
    const stats = reply.querySelector('[data-testid="playground-stats"]')!.textContent!
    expect(stats).toContain('입력 21')
    expect(stats).toContain('출력 4')
    expect(stats).toContain('vllm-a/llama-3-8b')
    expect(stats).toMatch(/첫 토큰 [\d,]+ ms/) // a slow machine takes over a second: 1,416 ms
    expect(reply.querySelector('[data-testid="playground-cost"]')!.textContent).toContain('비용 0.0000345 USD')
    expect(byTestId('playground-send')).not.toBeNull()

    const chat = calls.find((c) => c.path === '/v1/chat/completions')!
    expect(chat.body).toMatchObject({
      model: 'chat-small',
      stream: true,
      stream_options: { include_usage: true },
      messages: [
        { role: 'system', content: '짧게 답하세요.' },
        { role: 'user', content: '안녕?' },
      ],
    })
  })

  it('shows a refusal inline on the reply', async () => {
    mockApi({
      'GET /api/inference/models/status': () => ({
        currency: 'USD',
        models: [{ name: 'chat-small', health: 'healthy' }],
      }),
      'POST /v1/chat/completions': () =>
        json(
          {
            error: { message: "No upstream could answer for 'chat-small'.", type: 'api_error', code: 'upstream_error' },
          },
          502,
        ),
    })
    await mountAt(PlaygroundView, signIn(['gateway:invoke']))
    await usePlaygroundStore().send('hi')
    await settle()
    // in the reader's language, by the gateway's error code: never the server's English
    expect(byTestId('playground-error')!.textContent).toContain('응답할 수 있는 업스트림 서버가 없습니다')
    expect(byTestId('playground-error')!.textContent).not.toContain('No upstream')
  })

  it('tells the user an admin must add a route when there are no models', async () => {
    mockApi({ 'GET /api/inference/models/status': () => ({ currency: 'USD', models: [] }) })
    await mountAt(PlaygroundView, signIn(['gateway:invoke']))
    expect(byTestId('playground-empty')!.textContent).toContain('관리자가 게이트웨이 라우트를 추가해야')
    expect((byTestId('playground-input') as HTMLTextAreaElement).disabled).toBe(true)
  })
})

const provider = (id: string, name: string, over: object = {}) => ({
  id,
  name,
  kind: 'openai',
  base_url: `http://${name}:8000/v1`,
  timeout_s: 60,
  has_api_key: false,
  created_at: NOW,
  updated_at: NOW,
  ...over,
})
const target = (provider_id: string, model: string, over: object = {}) => ({
  provider_id,
  model,
  weight: 1,
  priority: 0,
  input_price: 0,
  output_price: 0,
  ...over,
})
const route = (over: object = {}) => ({
  id: 'r1',
  model_name: 'chat',
  description: '사내 챗봇',
  strategy: 'weighted',
  max_prompt_chars: null,
  timeout_s: 120,
  enabled: true,
  targets: [target('p1', 'llama-3-8b', { weight: 3 }), target('p2', 'qwen2-7b', { priority: 1 })],
  fallbacks: [target('p2', 'tiny')],
  created_at: NOW,
  updated_at: NOW,
  ...over,
})

describe('gateway routes admin', () => {
  it('lists routes with their upstreams by provider name, and shows the dry-run plan of a route', async () => {
    const calls = mockApi({
      'GET /api/gateway/providers': () => [provider('p1', 'vllm-a', { has_api_key: true }), provider('p2', 'vllm-b')],
      'GET /api/gateway/routes': () => [route()],
      'POST /api/router/route': ({ body }) => ({
        model: (body as { model: string }).model,
        strategy: 'weighted',
        reason: "strategy 'weighted' over 2 target(s)",
        order: [
          {
            upstream: 'vllm-a/llama-3-8b',
            base_url: 'http://vllm-a:8000/v1',
            model: 'llama-3-8b',
            role: 'target',
            circuit: 'closed',
            in_flight: 1,
            latency_ms: 120.4,
            input_price: 2.7777777,
            output_price: 2.7777777,
            tokenizer: 'llama-3-8b@production',
          },
          {
            upstream: 'vllm-b/tiny',
            base_url: 'http://vllm-b:8000/v1',
            model: 'tiny',
            role: 'fallback',
            circuit: 'open',
            in_flight: 0,
            latency_ms: null,
            input_price: 0,
            output_price: 0,
            tokenizer: null,
          },
        ],
      }),
    })
    await mountAt(GatewayRoutesView, signIn(['gateway:admin', 'gateway:invoke']))
    const table = byTestId('routes-table')!
    expect(table.textContent).toContain('chat')
    expect(table.textContent).toContain('가중치')
    expect(all('route-target').map((e) => e.textContent!.replace(/\s+/g, ' ').trim())).toEqual([
      'vllm-a/llama-3-8b확인 전 · 가중치 3 · 우선순위 0',
      'vllm-b/qwen2-7b확인 전 · 가중치 1 · 우선순위 1',
    ])
    expect(all('route-fallback').map((e) => e.textContent!.replace(/\s+/g, ' ').trim())).toEqual(['vllm-b/tiny확인 전'])

    byTestId('route-test')!.click()
    await settle()
    expect(calls.find((c) => c.path === '/api/router/route')!.body).toEqual({ model: 'chat' })
    const plan = byTestId('route-plan')!
    expect(plan.textContent).toContain('vllm-a/llama-3-8b')
    expect(all('route-plan-step')).toHaveLength(2)
    const reason = byTestId('route-plan-reason')!.textContent!
    expect(reason).toContain('vllm-a/llama-3-8b부터 보내며') // the plan in Korean, not the server's English `reason`
    expect(reason).not.toContain('strategy')
    expect(all('route-plan-circuit').map((e) => e.textContent!.trim())).toEqual(['닫힘 (정상)', '열림 (건너뜀)'])
    expect(all('route-plan-price').map((e) => e.textContent!.trim())).toEqual(['2.778 / 2.778', '0 / 0'])
  })

  it('creates a route from the form', async () => {
    const calls = mockApi({
      'GET /api/gateway/providers': () => [provider('p1', 'vllm-a')],
      'GET /api/gateway/routes': () => [],
      'POST /api/gateway/routes': ({ body }) => json({ ...route(), ...(body as object), id: 'r2' }, 201),
    })
    await mountAt(GatewayRoutesView, signIn(['gateway:admin']))
    byTestId('route-new')!.click()
    await settle()
    const name = byTestId('route-form-model') as HTMLInputElement
    name.value = 'chat-ko'
    name.dispatchEvent(new Event('input'))
    const model = document.querySelector<HTMLInputElement>('[data-testid="route-targets-model"] input')!
    model.value = 'llama-3-8b'
    model.dispatchEvent(new Event('input'))
    await settle()
    byTestId('route-form-submit')!.click()
    await settle()
    expect(calls.find((c) => c.method === 'POST' && c.path === '/api/gateway/routes')!.body).toEqual({
      model_name: 'chat-ko',
      description: '',
      strategy: 'weighted',
      fallbacks: [],
      max_prompt_chars: null,
      timeout_s: 120,
      enabled: true,
      team_id: null,
      targets: [
        target('p1', 'llama-3-8b', {
          gpu_hour_price: null,
          gpus: null,
          throughput_tokens_per_s: null,
          tokenizer: null,
        }),
      ],
    })
  })

  it('prices a target by the GPU-hour: all three figures or none, the derived price shown', async () => {
    const calls = mockApi({
      'GET /api/gateway/providers': () => [provider('p1', 'vllm-a')],
      'GET /api/gateway/routes': () => [],
      'POST /api/gateway/routes': ({ body }) => json({ ...route(), ...(body as object), id: 'r2' }, 201),
    })
    await mountAt(GatewayRoutesView, signIn(['gateway:admin']))
    byTestId('route-new')!.click()
    await settle()
    const fill = async (testid: string, value: string) => {
      const input =
        document.querySelector<HTMLInputElement>(`[data-testid="${testid}"] input`) ??
        (byTestId(testid) as HTMLInputElement)
      input.value = value
      input.dispatchEvent(new Event('input'))
      await settle()
    }
    await fill('route-form-model', 'ko-chat')
    await fill('route-targets-model', 'ko-chat-v3')
    const derived = () => byTestId('route-targets-gpu-derived')!.textContent!.trim()
    const submit = () => byTestId('route-form-submit') as HTMLButtonElement
    expect(derived()).toContain('GPU 시간당 가격, GPU 수')
    await fill('route-targets-gpu-price', '2')
    await fill('route-targets-gpus', '0.5')
    expect(derived()).toBe('GPU 시간당 가격은 세 값을 모두 0보다 크게 적어야 합니다')
    expect(submit().disabled).toBe(true)
    await fill('route-targets-throughput', '100')
    expect(derived()).toContain('1M 토큰당 ≈ 2.778') // 2 × 0.5 per hour / 0.36M tokens an hour
    expect(submit().disabled).toBe(false)
    await fill('route-targets-tokenizer', 'ko-chat@production')
    submit().click()
    await settle()
    expect(calls.find((c) => c.method === 'POST' && c.path === '/api/gateway/routes')!.body).toMatchObject({
      targets: [
        target('p1', 'ko-chat-v3', {
          gpu_hour_price: 2,
          gpus: 0.5,
          throughput_tokens_per_s: 100,
          tokenizer: 'ko-chat@production',
        }),
      ],
    })
  })

  it('lists providers and keeps the 409 message of a refused delete on screen', async () => {
    mockApi({
      'GET /api/gateway/providers': () => [provider('p1', 'vllm-a', { has_api_key: true })],
      'GET /api/gateway/routes': () => [route()],
      'DELETE /api/gateway/providers/p1': () =>
        json(
          {
            type: 'https://axops.dev/problems/provider_in_use',
            title: 'Conflict',
            status: 409,
            detail: 'Routes still use this provider: chat.',
            routes: ['chat'],
          },
          409,
        ),
    })
    await mountAt(GatewayRoutesView, signIn(['gateway:admin']))
    byTestId('tab-providers')!.click()
    await settle()
    expect(byTestId('providers-table')!.textContent).toContain('http://vllm-a:8000/v1')
    byTestId('provider-delete')!.click()
    await settle()
    byTestId('confirm-ok')!.click()
    await settle()
    expect(byTestId('provider-delete-error')!.textContent).toContain('이 프로바이더를 쓰는 라우트가 있습니다: chat')
  })
})

describe('usage dashboard', () => {
  const totals = (group: string, requests: number) => ({
    group,
    requests,
    errors: 1,
    prompt_tokens: 1000 * requests,
    completion_tokens: 100 * requests,
    cost: 0.01 * requests,
    p50_ms: 200,
    p95_ms: 800,
    cache_hits: 0,
  })

  it('shows stat cards, charts and the totals table, and reloads by group', async () => {
    const calls = mockApi({
      'GET /api/metrics/usage': ({ query }) => ({
        currency: 'KRW',
        bucket: query.get('bucket'),
        group_by: query.get('group_by'),
        series: [{ ...totals('chat', 3), ts: '2026-03-01T08:00:00Z' }],
        totals: [totals(query.get('group_by') === 'user' ? 'dev' : 'chat', 3)],
      }),
    })
    await mountAt(UsageView, signIn(['gateway:invoke']))
    expect(calls[0].query.get('bucket')).toBe('hour')
    expect(calls[0].query.get('group_by')).toBe('model')
    expect(Date.parse(calls[0].query.get('until')!) - Date.parse(calls[0].query.get('since')!)).toBe(24 * 3600_000)
    expect(byTestId('usage-own')).not.toBeNull() // not an admin: their own usage
    expect(byTestId('usage-stat-requests')!.textContent).toContain('3')
    expect(byTestId('usage-stat-errorRate')!.textContent).toContain('33.3%')
    expect(byTestId('usage-stat-cost')!.textContent).toContain('KRW') // every cost figure carries its unit
    // the error count links to the failing requests of this window in the request log
    const link = byTestId('usage-errors-link') as HTMLAnchorElement
    expect(link.getAttribute('href')).toMatch(/^\/gateway\/logs\?outcome=error&since=.+&until=.+/)
    expect(byTestId('usage-row-errors')!.getAttribute('href')).toContain('model=chat')
    expect(byTestId('usage-totals')!.textContent).toContain('chat')
    const option = JSON.parse(byTestId('usage-chart-requests')!.dataset.option!)
    expect(option.series.map((s: { name: string }) => s.name)).toEqual(['chat'])
    expect(option.series[0].data.reduce((a: number, b: number) => a + b, 0)).toBe(3)
  })

  it('has an empty state', async () => {
    mockApi({
      'GET /api/metrics/usage': () => ({ currency: 'USD', bucket: 'hour', group_by: 'model', series: [], totals: [] }),
    })
    await mountAt(UsageView, signIn(['gateway:invoke', 'gateway:admin']))
    expect(byTestId('state-empty')!.textContent).toContain('아직 게이트웨이 사용량이 없습니다')
    expect(byTestId('usage-own')).toBeNull()
  })
})

describe('gateway i18n', () => {
  const keys = (o: object, prefix = ''): string[] =>
    Object.entries(o).flatMap(([k, v]) => (v && typeof v === 'object' ? keys(v, `${prefix}${k}.`) : [`${prefix}${k}`]))
  it('has every gateway text in both languages', () => {
    expect(keys(ko.gateway).sort()).toEqual(keys(en.gateway).sort())
    expect(i18n.global.t('gateway.usage.windows.24h')).toBe('최근 24시간')
  })
})
