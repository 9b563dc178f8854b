import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { VueWrapper } from '@vue/test-utils'
import AgentDetailView from '@/views/agents/AgentDetailView.vue'
import RunTimeline from '@/views/agents/RunTimeline.vue'
import { timelineRows, traceTotals } from '@/views/agents/timeline'
import { NamedSseParser, type RunEvent, type Run, type Step } from '@/api/agents'
import { applyEvent, emptyChat } from '@/stores/agents'
import { setLocale } from '@/i18n'
import { byTestId, mockApi, mountView, settle, signIn } from './helpers'

vi.mock('vue-router', async (importOriginal) => ({
  ...(await importOriginal<typeof import('vue-router')>()),
  useRoute: () => ({ params: { id: 'a1' }, meta: {}, query: {} }),
}))

const AGENT = {
  id: 'a1',
  name: 'helper',
  description: '',
  team_id: 't1',
  visibility: 'team',
  latest_version: 1,
  archived: false,
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z',
  current: null,
}
const VERSION = {
  version: 1,
  route: 'chat',
  system_prompt: 'Be brief',
  prompt: null,
  tool_ids: ['x1', 'x2'],
  limits: { max_steps: 10, max_seconds: 120 },
  params: {},
  message: '',
  created_at: '2026-01-01T00:00:00Z',
}
const at = (ms: number) => new Date(Date.parse('2026-01-01T00:00:00Z') + ms).toISOString()
const step = (index: number, kind: Step['kind'], start: number, latency: number, extra: Partial<Step> = {}): Step => ({
  index,
  kind,
  name: null,
  tool_call_id: null,
  parallel_group: null,
  latency_ms: latency,
  prompt_tokens: null,
  completion_tokens: null,
  cost: null,
  error: null,
  error_kind: null,
  started_at: at(start),
  ...extra,
})
/** A model call asking for two tools in parallel (one of them failing), a second model call, the answer. */
const TRACE: Step[] = [
  step(0, 'model', 0, 100, { name: 'chat', prompt_tokens: 50, completion_tokens: 10, cost: 0.001 }),
  step(1, 'tool', 100, 300, { name: 'weather', parallel_group: 1, tool_call_id: 'c1' }),
  step(2, 'tool', 100, 200, {
    name: 'lookup',
    parallel_group: 1,
    tool_call_id: 'c2',
    error_kind: 'timeout',
    error: 'took too long',
  }),
  step(3, 'model', 400, 100, { name: 'chat', prompt_tokens: 80, completion_tokens: 20, cost: 0.002 }),
  step(4, 'answer', 500, 0),
]
const RUN: Run = {
  id: 'r1',
  agent_id: 'a1',
  agent_name: 'helper',
  version: 1,
  status: 'succeeded',
  stop_reason: 'stop',
  output: '맑음',
  steps: 5,
  prompt_tokens: 130,
  completion_tokens: 30,
  cost: 0.003,
  latency_ms: 500,
  created_at: at(0),
  trace: TRACE,
  approvals: [],
}

/** A Response streaming `events` as SSE, split at awkward places (mid-line) to exercise the parser. */
function sseResponse(events: [string, unknown][]): Response {
  const text = events.map(([e, d]) => `event: ${e}\ndata: ${JSON.stringify(d)}\n\n`).join('')
  const pieces = [text.slice(0, 7), text.slice(7, 40), text.slice(40)]
  const stream = new ReadableStream({
    start(controller) {
      for (const p of pieces) controller.enqueue(new TextEncoder().encode(p))
      controller.close()
    },
  })
  return new Response(stream, { headers: { 'content-type': 'text/event-stream' } })
}

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
vi.setConfig({ testTimeout: 60_000 })

describe('trace timeline', () => {
  it('groups parallel tool calls into one row and scales bars to the run', () => {
    const rows = timelineRows(TRACE)
    expect(rows.map((r) => r.kind)).toEqual(['model', 'parallel', 'model', 'answer'])
    const parallel = rows[1]
    expect(parallel.bars.map((b) => b.step.name)).toEqual(['weather', 'lookup'])
    // Both start together at 100 ms of a 500 ms run; the longer one sets the row's latency.
    expect(parallel.bars[0].left).toBeCloseTo(0.2)
    expect(parallel.bars[1].left).toBeCloseTo(0.2)
    expect(parallel.bars[0].width).toBeCloseTo(0.6)
    expect(parallel.latencyMs).toBe(300)
    expect(parallel.errors).toBe(1)
    expect(rows[0].tokens).toBe(60)
    expect(traceTotals(TRACE)).toEqual({ steps: 5, tokens: 160, cost: 0.003, errors: 1 })
  })

  it('does not group sequential tool calls of different groups', () => {
    const rows = timelineRows([
      step(0, 'tool', 0, 10, { parallel_group: 1 }),
      step(1, 'tool', 10, 10, { parallel_group: 2 }),
    ])
    expect(rows.map((r) => r.kind)).toEqual(['tool', 'tool'])
  })

  it('renders a row per step group with errors, in Korean', async () => {
    wrapper = await mountView(
      { components: { RunTimeline }, setup: () => ({ run: RUN }), template: '<RunTimeline :run="run" />' },
      signIn(['agents:read']),
    )
    const rows = document.querySelectorAll('[data-testid="trace-row"]')
    expect(rows).toHaveLength(4)
    expect(rows[1].getAttribute('data-kind')).toBe('parallel')
    expect(rows[1].querySelectorAll('[data-testid="trace-bar"]')).toHaveLength(2)
    expect(rows[1].textContent).toContain('도구 (병렬)')
    expect(byTestId('trace-error')!.textContent).toContain('timeout')
    expect(byTestId('trace-status')!.textContent).toContain('성공')
    expect(byTestId('trace-totals')!.textContent).toContain('5단계')
  })
})

describe('run events', () => {
  it('parses named server-sent events split across chunks', () => {
    const seen: RunEvent[] = []
    const parser = new NamedSseParser((e) => seen.push(e))
    parser.push('event: tool_call\ndata: {"id":"c1",')
    parser.push('"name":"weather"}\n\nevent: answer\r\ndata: {"content":"hi"}\r\n')
    parser.push('\n: keep-alive\n\n')
    parser.end()
    expect(seen).toEqual([
      { event: 'tool_call', data: { id: 'c1', name: 'weather' } },
      { event: 'answer', data: { content: 'hi' } },
    ])
  })

  it('builds the chat from tool calls, their results, approvals and the answer', () => {
    const chat = emptyChat()
    for (const e of [
      { event: 'step', data: { index: 0, kind: 'model' } },
      { event: 'tool_call', data: { id: 'c1', name: 'weather', group: 1 } },
      { event: 'tool_call', data: { id: 'c2', name: 'pay', group: 1 } },
      { event: 'tool_result', data: { id: 'c1', name: 'weather', ok: true, error_kind: null, latency_ms: 12.5 } },
      {
        event: 'approval_required',
        data: { run_id: 'r9', calls: [{ approval_id: 'p1', tool_call_id: 'c2', tool: 'pay', arguments: { n: 1 } }] },
      },
      { event: 'done', data: { status: 'waiting_approval', stop_reason: null } },
    ])
      applyEvent(chat, e)
    expect(chat.runId).toBe('r9')
    expect(chat.status).toBe('waiting_approval')
    expect(chat.items.map((i) => i.kind)).toEqual(['tool_call', 'tool_call'])
    const first = chat.items[0]
    expect(first.kind === 'tool_call' && first.result).toMatchObject({ ok: true, latency_ms: 12.5 })
    expect(chat.approvals).toEqual([{ id: 'p1', tool_call_id: 'c2', tool_name: 'pay', arguments: { n: 1 } }])
    applyEvent(chat, { event: 'tool_result', data: { id: 'c2', ok: false, error_kind: 'rejected' } })
    applyEvent(chat, { event: 'answer', data: { content: '결제를 하지 않았습니다' } })
    applyEvent(chat, { event: 'done', data: { status: 'succeeded', stop_reason: 'stop' } })
    const second = chat.items[1]
    expect(second.kind === 'tool_call' && second.result?.error_kind).toBe('rejected')
    expect(chat.items[2]).toEqual({ kind: 'answer', text: '결제를 하지 않았습니다' })
    expect(chat.status).toBe('succeeded')
  })

  it("takes the run's id from the stream's first event and keeps what the chat holds", () => {
    const chat = emptyChat()
    chat.status = 'running'
    chat.approvals = [{ id: 'p1', tool_call_id: 'c1', tool_name: 'pay', arguments: null }]
    applyEvent(chat, { event: 'run', data: { run_id: 'r7' } })
    expect(chat.runId).toBe('r7')
    expect(chat.status).toBe('running')
    expect(chat.approvals).toHaveLength(1)
  })
})

describe('agent page', () => {
  function pageApi(runStream: () => Response, extra = {}) {
    return mockApi({
      'GET /api/agent/agents/a1': () => AGENT,
      'GET /api/agent/agents/a1/versions': () => ({ items: [VERSION] }),
      'POST /api/agent/agents/a1/runs': runStream,
      'GET /api/agent/runs/r1': () => RUN,
      'GET /api/agent/runs': () => ({ items: [RUN] }),
      ...extra,
    })
  }

  async function send(text: string) {
    const input = byTestId('chat-input')!.querySelector('textarea')!
    input.value = text
    input.dispatchEvent(new Event('input'))
    await settle()
    byTestId('chat-send')!.click()
    await settle()
    await settle()
  }

  it('streams a run into the chat and then shows its trace', async () => {
    const calls = pageApi(() =>
      sseResponse([
        ['run', { run_id: 'r1' }],
        ['step', { index: 0, kind: 'model' }],
        ['tool_call', { id: 'c1', name: 'weather', arguments: '{"city": "서울", "phone": "<PHONE>"}', group: 1 }],
        ['tool_result', { id: 'c1', name: 'weather', ok: true, latency_ms: 300 }],
        ['answer', { content: '맑음' }],
        ['done', { status: 'succeeded', stop_reason: 'stop' }],
      ]),
    )
    wrapper = await mountView(AgentDetailView, signIn(['agents:read', 'agents:write']))
    await settle()
    expect(byTestId('agent-route')!.textContent).toContain('chat')
    await send('서울 날씨?')
    expect(byTestId('chat-user')!.textContent).toContain('서울 날씨?')
    expect(byTestId('chat-tool-call')!.textContent).toContain('weather')
    expect(byTestId('chat-tool-result')!.textContent).toContain('300 ms')
    expect(byTestId('chat-answer')!.textContent).toContain('맑음')
    expect(byTestId('chat-status')!.textContent).toContain('성공')
    const run = calls.find((c) => c.method === 'POST')!
    expect(run.body).toEqual({ input: '서울 날씨?', stream: true })
    // The (masked) arguments show, pretty-printed
    expect(byTestId('chat-tool-call')!.textContent).toContain('"city": "서울"')
    // The run's id came from the stream's first event, not from guessing at the newest run; its trace is drawn.
    expect(calls.some((c) => c.path === '/api/agent/runs/r1')).toBe(true)
    expect(calls.some((c) => c.path === '/api/agent/runs' && c.query.get('limit') === '1')).toBe(false)
    expect(document.querySelectorAll('[data-testid="trace-row"]')).toHaveLength(4)
  })

  it('shows approval buttons while the run waits, and a decision resumes it', async () => {
    const calls = pageApi(
      () =>
        sseResponse([
          ['tool_call', { id: 'c2', name: 'pay', group: 1 }],
          [
            'approval_required',
            { run_id: 'r1', calls: [{ approval_id: 'p1', tool_call_id: 'c2', tool: 'pay', arguments: { amount: 5 } }] },
          ],
          ['done', { status: 'waiting_approval', stop_reason: null }],
        ]),
      {
        'POST /api/agent/runs/r1/approvals/p1': () =>
          sseResponse([
            ['tool_result', { id: 'c2', name: 'pay', ok: true, latency_ms: 20 }],
            ['answer', { content: '결제했습니다' }],
            ['done', { status: 'succeeded', stop_reason: 'stop' }],
          ]),
      },
    )
    wrapper = await mountView(AgentDetailView, signIn(['agents:read', 'agents:write']))
    await settle()
    await send('5원 결제해 줘')
    expect(byTestId('chat-approval')!.textContent).toContain('pay')
    expect(byTestId('chat-status')!.textContent).toContain('승인 대기')
    byTestId('approval-approve')!.click()
    await settle()
    await settle()
    const decision = calls.find((c) => c.path === '/api/agent/runs/r1/approvals/p1')!
    expect(decision.body).toEqual({ approve: true, comment: '' })
    expect(decision.query.get('stream')).toBe('true')
    expect(byTestId('chat-approvals')).toBeNull()
    expect(byTestId('chat-answer')!.textContent).toContain('결제했습니다')
    expect(byTestId('chat-status')!.textContent).toContain('성공')
  })

  it('a viewer cannot send', async () => {
    pageApi(() => sseResponse([]))
    wrapper = await mountView(AgentDetailView, signIn(['agents:read']))
    await settle()
    expect(byTestId('chat-send')!.hasAttribute('disabled')).toBe(true)
  })
})
