import { afterEach, describe, expect, it, vi } from 'vitest'
import type { Definition } from '@/api/workflows'
import { useWorkflowStore } from '@/stores/workflows'
import {
  LOOP_NEXT,
  edgeFor,
  newNode,
  problemsByNode,
  refuseLink,
  sourceHandles,
  toDefinition,
  toFlow,
  traceByNode,
} from '@/views/workflows/graph'
import { json, mockApi, settle, signIn } from './helpers'

const DEFINITION: Definition = {
  inputs: [
    { name: 'question', type: 'string' },
    { name: 'items', type: 'list', required: false },
  ],
  nodes: [
    { id: 'input', type: 'input', label: '', position: { x: 0, y: 0 }, config: {} },
    {
      id: 'check',
      type: 'condition',
      label: 'Long?',
      position: { x: 200, y: 0 },
      config: { expression: 'question | length > 10' },
    },
    {
      id: 'answer',
      type: 'model',
      label: '',
      position: { x: 400, y: -80 },
      config: { route: 'chat', messages: [{ role: 'user', content: '{{ question }}' }], params: { temperature: 0 } },
    },
    { id: 'each', type: 'loop', label: '', position: { x: 400, y: 80 }, config: { items: 'items', max_items: 3 } },
    {
      id: 'lookup',
      type: 'tool',
      label: '',
      position: { x: 600, y: 160 },
      config: { tool_id: '00000000-0000-0000-0000-000000000001', arguments: { q: '{{ item }}' } },
    },
    { id: 'output', type: 'output', label: '', position: { x: 800, y: 0 }, config: { template: '{{ answer }}' } },
  ],
  edges: [
    { id: 'e1', source: 'input', target: 'check' },
    { id: 'e2', source: 'check', target: 'answer', source_handle: 'true' },
    { id: 'e3', source: 'check', target: 'each', source_handle: 'false' },
    { id: 'e4', source: 'each', target: 'lookup', source_handle: 'body' },
    { id: 'e5', source: 'each', target: 'output' },
    { id: 'e6', source: 'answer', target: 'output' },
  ],
}

describe('definition <-> Vue Flow', () => {
  it('round-trips nodes, edges, handles, labels and configs unchanged', () => {
    const flow = toFlow(DEFINITION)
    expect(toDefinition(DEFINITION.inputs, flow.nodes, flow.edges)).toEqual(DEFINITION)
  })

  it('puts each edge on its handle: condition true/false, loop body, and the loop continuation', () => {
    const { nodes, edges } = toFlow(DEFINITION)
    const handle = (id: string) => edges.find((e) => e.id === id)!.sourceHandle
    expect(handle('e1')).toBeNull()
    expect(handle('e2')).toBe('true')
    expect(handle('e3')).toBe('false')
    expect(handle('e4')).toBe('body')
    // the loop's unnamed exit is drawn from its "next" handle and saved back without a handle
    expect(handle('e5')).toBe(LOOP_NEXT)
    expect(toDefinition([], nodes, edges).edges.find((e) => e.id === 'e5')).toEqual({
      id: 'e5',
      source: 'each',
      target: 'output',
    })
    expect(nodes.find((n) => n.id === 'check')!.data!.label).toBe('Long?')
    expect(nodes.find((n) => n.id === 'input')!.data!.label).toBe('input')
  })

  it('offers the handles of each kind', () => {
    expect(sourceHandles('condition')).toEqual(['true', 'false'])
    expect(sourceHandles('loop')).toEqual(['body', LOOP_NEXT])
    expect(sourceHandles('model')).toEqual([null])
    expect(sourceHandles('output')).toEqual([])
  })

  it('copies configs: editing the graph does not change the definition it came from', () => {
    const flow = toFlow(DEFINITION)
    ;(flow.nodes[2]!.data!.config.params as Record<string, number>).temperature = 1
    expect((DEFINITION.nodes[2]!.config.params as Record<string, number>).temperature).toBe(0)
  })

  it('names new nodes by kind without clashing, and refuses self, into-input and duplicate links', () => {
    const { nodes, edges } = toFlow(DEFINITION)
    const node = newNode('model', ['model_1', 'model_2'], { x: 1, y: 2 })
    expect(node.id).toBe('model_3')
    expect(node.data!.config).toEqual({ messages: [{ role: 'user', content: '{{ input.question }}' }] })
    expect(refuseLink({ source: 'answer', target: 'answer' }, nodes, edges)).toBe('self')
    expect(refuseLink({ source: 'answer', target: 'input' }, nodes, edges)).toBe('noInput')
    expect(refuseLink({ source: 'check', target: 'answer', sourceHandle: 'true' }, nodes, edges)).toBe('duplicate')
    expect(refuseLink({ source: 'check', target: 'answer', sourceHandle: 'false' }, nodes, edges)).toBeNull()
    const edge = edgeFor({ source: 'check', target: 'output', sourceHandle: 'false' }, nodes, edges)
    expect(edge).toMatchObject({ id: 'e7', sourceHandle: 'false', label: 'false' })
  })

  it('lays server errors on their nodes from the problem node field and from pydantic locations', () => {
    expect(problemsByNode({ detail: 'unknown variable', node: 'answer' }, DEFINITION).get('answer')).toEqual([
      'unknown variable',
    ])
    // with the reader's-language message first, then the server's own detail
    expect(
      problemsByNode({ detail: 'unknown variable', node: 'answer' }, DEFINITION, '표시된 노드를 확인하세요').get(
        'answer',
      ),
    ).toEqual(['표시된 노드를 확인하세요', 'unknown variable'])
    const byLoc = problemsByNode(
      {
        detail: 'Invalid fields',
        errors: [
          { loc: ['body', 'definition', 'nodes', 4, 'config', 'tool_id'], msg: 'Input should be a valid UUID' },
          { loc: ['body', 'definition', 'edges', 0], msg: 'bad edge' },
        ],
      },
      DEFINITION,
    )
    expect(byLoc.get('lookup')).toEqual(['config.tool_id: Input should be a valid UUID'])
    expect(byLoc.get('')).toHaveLength(1)
  })

  it('sums a node trace over loop iterations and shows a failure over successes', () => {
    const trace = traceByNode({
      id: 'r',
      workflow_id: 'w',
      version: 1,
      status: 'failed',
      nodes: [
        { node_id: 'lookup', iteration: 1, status: 'error', latency_ms: 5, cost: 0, error: 'boom' },
        { node_id: 'lookup', iteration: 0, status: 'ok', latency_ms: 3, prompt_tokens: 0, completion_tokens: 0 },
        { node_id: 'answer', status: 'ok', latency_ms: 10, prompt_tokens: 4, completion_tokens: 6, cost: 0.02 },
      ],
    })
    expect(trace.get('lookup')).toMatchObject({ status: 'error', latencyMs: 8 })
    expect(trace.get('lookup')!.records.map((r) => r.iteration)).toEqual([0, 1])
    expect(trace.get('answer')).toMatchObject({ status: 'ok', tokens: 10, cost: 0.02 })
  })
})

const WORKFLOW = {
  id: 'w1',
  name: 'triage',
  description: '',
  team_id: 't1',
  created_by: null,
  latest_version: 1,
  archived_at: null,
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z',
}

describe('the workflow store', () => {
  afterEach(() => vi.restoreAllMocks())

  it('opens the latest version, edits, saves a new version, and runs it', async () => {
    signIn(['agents:read', 'agents:write'])
    const calls = mockApi({
      'GET /api/agent/workflows/w1': () => WORKFLOW,
      'GET /api/agent/workflows/w1/versions': () => ({ items: [{ version: 1, definition: DEFINITION, message: '' }] }),
      'GET /api/agent/workflows/w1/runs': () => json({ title: 'Method Not Allowed', status: 405 }, 405),
      'POST /api/agent/workflows/w1/versions': (c) => ({
        version: 2,
        definition: (c.body as { definition: Definition }).definition,
        message: 'more',
      }),
      'POST /api/agent/workflows/w1/runs': () => ({
        id: 'r1',
        workflow_id: 'w1',
        version: 2,
        status: 'succeeded',
        output: 'hi',
        nodes: [{ node_id: 'answer', status: 'ok', latency_ms: 7, prompt_tokens: 1, completion_tokens: 2 }],
      }),
    })
    const store = useWorkflowStore()
    await store.open('w1')
    await settle()
    expect(store.version).toBe(1)
    expect(store.nodes).toHaveLength(6)
    expect(store.dirty).toBe(false)
    expect(store.canWrite).toBe(true)

    const added = store.addNode('output')
    expect(added.id).toBe('output_1')
    expect(store.connect({ source: 'answer', target: 'output_1' })).toBeNull()
    expect(store.connect({ source: 'answer', target: 'output_1' })).toBe('duplicate')
    store.updateConfig('output_1', { template: 'x' })
    expect(store.dirty).toBe(true)

    expect(await store.save('more')).toBe(true)
    const sent = calls.find((c) => c.method === 'POST' && c.path.endsWith('/versions'))!.body as {
      definition: Definition
      message: string
    }
    expect(sent.message).toBe('more')
    expect(sent.definition.nodes.find((n) => n.id === 'output_1')!.config).toEqual({ template: 'x' })
    expect(sent.definition.edges.at(-1)).toEqual({ id: 'e7', source: 'answer', target: 'output_1' })
    expect(store.version).toBe(2)
    expect(store.dirty).toBe(false)

    store.removeNodes(['output_1'])
    expect(store.edges.some((e) => e.target === 'output_1')).toBe(false)

    const run = await store.execute({ question: 'hello' })
    expect(run?.status).toBe('succeeded')
    expect(calls.at(-1)!.body).toEqual({ input: { question: 'hello' }, version: 2 })
    expect(store.trace.get('answer')).toMatchObject({ status: 'ok', tokens: 3 })
    expect(store.runs.map((r) => r.id)).toEqual(['r1'])
  })

  it('keeps a refused save unsaved and marks the node named by the server', async () => {
    signIn(['agents:read', 'agents:write'])
    mockApi({
      'GET /api/agent/workflows/w1': () => WORKFLOW,
      'GET /api/agent/workflows/w1/versions': () => ({ items: [] }),
      'POST /api/agent/workflows/w1/versions': () =>
        json(
          {
            type: 'https://axops.dev/problems/workflow_definition_invalid',
            title: 'Invalid workflow',
            status: 422,
            detail: 'The output template is empty',
            node: 'output',
          },
          422,
        ),
    })
    const store = useWorkflowStore()
    await store.open('w1')
    // a workflow with no version starts from an input and an output
    expect(store.version).toBeNull()
    expect(store.nodes.map((n) => n.id)).toEqual(['input', 'output'])
    store.addNode('model')
    expect(await store.save()).toBe(false)
    // the problem in the reader's language (by its code), then the server's own detail
    const marked = store.problems.get('output')!
    expect(marked).toHaveLength(2)
    expect(marked[0]).not.toBe('The output template is empty')
    expect(marked[1]).toBe('The output template is empty')
    expect(store.version).toBeNull()
    expect(store.dirty).toBe(true)
  })

  it('is read-only for another team and without agents:write', async () => {
    signIn(['agents:read'])
    mockApi({
      'GET /api/agent/workflows/w1': () => WORKFLOW,
      'GET /api/agent/workflows/w1/versions': () => ({ items: [] }),
    })
    const store = useWorkflowStore()
    await store.open('w1')
    expect(store.canWrite).toBe(false)
  })

  it('says missing for a workflow the server does not show', async () => {
    signIn(['agents:read'])
    mockApi({})
    const store = useWorkflowStore()
    await store.open('nope')
    expect(store.missing).toBe(true)
  })
})
