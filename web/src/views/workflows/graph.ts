// A workflow definition <-> the Vue Flow graph the builder edits, and the run trace laid onto that graph.
import type { Edge, Node } from '@vue-flow/core'
import type { Problem } from '@/api/client'
import { i18n } from '@/i18n'
import type { Definition, DefinitionEdge, NodeRun, NodeType, WorkflowInput, WorkflowRun } from '@/api/workflows'

export interface StepData {
  kind: NodeType
  label: string
  config: Record<string, unknown>
}
export type StepNode = Node<StepData>

export const ICONS: Record<NodeType, string> = {
  input: 'mdi-import',
  model: 'mdi-creation-outline',
  tool: 'mdi-wrench-outline',
  condition: 'mdi-call-split',
  loop: 'mdi-repeat',
  output: 'mdi-export',
}

export const formatCost = (cost: number) => (cost >= 0.01 ? cost.toFixed(2) : cost.toPrecision(2))

/** The loop's handle for what follows the loop; in the definition its edges have no source_handle. */
export const LOOP_NEXT = 'next'

/** The source handles a node of `kind` offers (null: the one unnamed handle). */
export function sourceHandles(kind: NodeType): (string | null)[] {
  if (kind === 'output') return []
  if (kind === 'condition') return ['true', 'false']
  if (kind === 'loop') return ['body', LOOP_NEXT]
  return [null]
}
export const hasTarget = (kind: NodeType) => kind !== 'input'

export function defaultConfig(kind: NodeType): Record<string, unknown> {
  switch (kind) {
    case 'model':
      return { messages: [{ role: 'user', content: '{{ input.question }}' }] }
    case 'tool':
      return { tool_id: '', arguments: {} }
    case 'condition':
      return { expression: '' }
    case 'loop':
      return { items: '' }
    case 'output':
      return { template: '' }
    default:
      return {}
  }
}

/** A fresh id for a node of `kind` (model_1, model_2…) that `taken` does not hold. */
export function freshId(kind: NodeType, taken: Iterable<string>): string {
  const used = new Set(taken)
  let n = 1
  while (used.has(`${kind}_${n}`)) n++
  return `${kind}_${n}`
}

export function newNode(kind: NodeType, taken: Iterable<string>, position: { x: number; y: number }): StepNode {
  const id = freshId(kind, taken)
  return { id, type: 'step', position: { ...position }, data: { kind, label: id, config: defaultConfig(kind) } }
}

/** Screen readers name an edge by its ends (Vue Flow's own label is English). */
const edgeAria = (source: string, target: string) => i18n.global.t('workflows.edgeAria', { source, target })

const edgeHandle = (sourceKind: NodeType | undefined, handle: string | null | undefined): string | null => {
  if (sourceKind === 'loop') return handle ?? LOOP_NEXT
  return handle ?? null
}

export function toFlow(definition: Definition): { nodes: StepNode[]; edges: Edge[] } {
  const kinds = new Map(definition.nodes.map((n) => [n.id, n.type]))
  const nodes: StepNode[] = definition.nodes.map((n) => ({
    id: n.id,
    type: 'step',
    position: { x: n.position?.x ?? 0, y: n.position?.y ?? 0 },
    data: { kind: n.type, label: n.label || n.id, config: plain(n.config ?? {}) },
  }))
  const edges: Edge[] = definition.edges.map((e) => {
    const handle = edgeHandle(kinds.get(e.source), e.source_handle)
    return {
      id: e.id,
      source: e.source,
      target: e.target,
      sourceHandle: handle,
      ariaLabel: edgeAria(e.source, e.target),
      ...(handle && handle !== LOOP_NEXT ? { label: handle } : {}),
    }
  })
  return { nodes, edges }
}

export function toDefinition(inputs: WorkflowInput[], nodes: StepNode[], edges: Edge[]): Definition {
  const kinds = new Map(nodes.map((n) => [n.id, n.data?.kind]))
  return {
    inputs: inputs.map((i) => ({ name: i.name, type: i.type, ...(i.required === false ? { required: false } : {}) })),
    nodes: nodes.map((n) => ({
      id: n.id,
      type: n.data!.kind,
      label: n.data!.label && n.data!.label !== n.id ? n.data!.label : '',
      position: { x: Math.round(n.position.x), y: Math.round(n.position.y) },
      config: plain(n.data!.config),
    })),
    edges: edges.map((e): DefinitionEdge => {
      const handle = e.sourceHandle || null
      const sourceHandle = kinds.get(e.source) === 'loop' && handle === LOOP_NEXT ? null : handle
      return { id: e.id, source: e.source, target: e.target, ...(sourceHandle ? { source_handle: sourceHandle } : {}) }
    }),
  }
}

/** A deep copy of JSON-like data (structuredClone refuses Vue's reactive proxies). */
function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value ?? {})) as T
}

export interface Link {
  source: string
  target: string
  sourceHandle?: string | null
}

/** Why `link` may not be drawn (an i18n key under workflows.connect), or null when it may. */
export function refuseLink(link: Link, nodes: StepNode[], edges: Edge[]): string | null {
  if (link.source === link.target) return 'self'
  const target = nodes.find((n) => n.id === link.target)
  if (!target || !hasTarget(target.data!.kind)) return 'noInput'
  const handle = link.sourceHandle || null
  if (edges.some((e) => e.source === link.source && e.target === link.target && (e.sourceHandle || null) === handle))
    return 'duplicate'
  return null
}

export function edgeFor(link: Link, nodes: StepNode[], edges: Edge[]): Edge {
  const taken = new Set(edges.map((e) => e.id))
  let n = edges.length + 1
  while (taken.has(`e${n}`)) n++
  const kind = nodes.find((x) => x.id === link.source)?.data?.kind
  const handle = edgeHandle(kind, link.sourceHandle || null)
  return {
    id: `e${n}`,
    source: link.source,
    target: link.target,
    sourceHandle: handle,
    ariaLabel: edgeAria(link.source, link.target),
    ...(handle && handle !== LOOP_NEXT ? { label: handle } : {}),
  }
}

/** One node's part of a run: its overall status, summed figures, and each loop iteration's record. */
export interface NodeTrace {
  status: string
  latencyMs: number
  tokens: number
  cost: number
  records: NodeRun[]
}

const tokensOf = (r: NodeRun) => r.tokens ?? (r.prompt_tokens ?? 0) + (r.completion_tokens ?? 0)

export function traceByNode(run: WorkflowRun | null): Map<string, NodeTrace> {
  const out = new Map<string, NodeTrace>()
  for (const record of run?.nodes ?? []) {
    const t = out.get(record.node_id) ?? { status: 'skipped', latencyMs: 0, tokens: 0, cost: 0, records: [] }
    t.records.push(record)
    t.latencyMs += record.latency_ms ?? 0
    t.tokens += tokensOf(record)
    t.cost += record.cost ?? 0
    // error wins over ok, ok over skipped: a loop body that failed once is shown failed
    const rank = (s: string) => (s === 'error' ? 2 : s === 'ok' ? 1 : 0)
    if (rank(record.status) >= rank(t.status)) t.status = record.status
    out.set(record.node_id, t)
  }
  for (const t of out.values()) t.records.sort((a, b) => (a.iteration ?? -1) - (b.iteration ?? -1))
  return out
}

/** The server's validation errors per node id: from a problem's `node_id` extension, or from the pydantic `loc`
 * (body.definition.nodes.<index>…) of its field errors. Errors that name no node are under ''. */
export function problemsByNode(
  problem: Problem | null,
  definition: Definition,
  message?: string,
): Map<string, string[]> {
  const out = new Map<string, string[]>()
  const add = (id: string, message: string) => out.set(id, [...(out.get(id) ?? []), message])
  if (!problem) return out
  const named = problem.node_id ?? problem.node
  // `message`: the problem as the reader's language tells it (the server's detail is English)
  if (typeof named === 'string') {
    const detail = String(problem.detail ?? problem.title ?? '')
    if (message && message !== detail) add(named, message)
    add(named, detail) // the server's own words: which field, which variable
  }
  for (const e of problem.errors ?? []) {
    const loc = (e.loc ?? []).map(String)
    const at = loc.indexOf('nodes')
    const index = at >= 0 ? Number(loc[at + 1]) : NaN
    const node = Number.isInteger(index) ? definition.nodes[index] : undefined
    const field = loc.slice(at >= 0 ? at + 2 : 0).filter((p) => p !== 'body' && p !== 'definition')
    add(node?.id ?? '', `${field.length ? field.join('.') + ': ' : ''}${e.msg ?? ''}`)
  }
  if (!out.size) add('', message || String(problem.detail ?? problem.title ?? ''))
  return out
}
