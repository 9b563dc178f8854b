import { defineStore } from 'pinia'
import { computed, ref, shallowRef, type Ref } from 'vue'
import type { Edge } from '@vue-flow/core'
import type { Problem } from '@/api/client'
import {
  getWorkflow,
  listRuns,
  listVersions,
  runWorkflow,
  saveVersion,
  type Definition,
  type NodeType,
  type Workflow,
  type WorkflowInput,
  type WorkflowRun,
  type WorkflowVersion,
} from '@/api/workflows'
import { useAuthStore } from '@/stores/auth'
import {
  edgeFor,
  newNode,
  problemsByNode,
  refuseLink,
  toDefinition,
  toFlow,
  traceByNode,
  type Link,
  type StepNode,
} from '@/views/workflows/graph'

/** The starting graph of a workflow with no version: an input, a model and an output, connected. */
export function starterDefinition(): Definition {
  return {
    inputs: [{ name: 'question', type: 'string' }],
    nodes: [
      { id: 'input', type: 'input', label: '', position: { x: 40, y: 120 }, config: {} },
      { id: 'output', type: 'output', label: '', position: { x: 560, y: 120 }, config: { template: '' } },
    ],
    edges: [],
  }
}

/** The builder page: the workflow, its versions (newest first), the graph being edited, its runs. */
export const useWorkflowStore = defineStore('workflow', () => {
  const auth = useAuthStore()
  const workflow = ref<Workflow | null>(null)
  const versions = shallowRef<WorkflowVersion[]>([])
  /** The version the graph was loaded from (null: none saved yet). */
  const version = ref<number | null>(null)
  const inputs = ref<WorkflowInput[]>([])
  // Typed by hand: Vue Flow's node type is too deep for ref's unwrapping.
  const nodes = ref([]) as Ref<StepNode[]>
  const edges = ref([]) as Ref<Edge[]>
  const selectedId = ref<string | null>(null)
  const loading = ref(false)
  const error = ref<string | null>(null)
  const missing = ref(false)
  const saving = ref(false)
  /** Server validation errors of the last save, per node id ('' = the workflow as a whole). */
  const problems = shallowRef<Map<string, string[]>>(new Map())
  const snapshot = ref('')
  const running = ref(false)
  const run = ref<WorkflowRun | null>(null)
  const runs = shallowRef<WorkflowRun[]>([])
  const runError = ref<string | null>(null)

  const definition = computed(() => toDefinition(inputs.value, nodes.value, edges.value))
  const dirty = computed(() => JSON.stringify(definition.value) !== snapshot.value)
  const selected = computed(() => nodes.value.find((n) => n.id === selectedId.value) ?? null)
  const trace = computed(() => traceByNode(run.value))
  const canWrite = computed(
    () =>
      auth.can('agents:write') &&
      !!workflow.value &&
      (auth.user?.role === 'admin' || !!auth.user?.teams.some((team) => team.id === workflow.value?.team_id)),
  )

  function setDefinition(d: Definition, n: number | null) {
    const flow = toFlow(d)
    inputs.value = d.inputs.map((i) => ({ ...i }))
    nodes.value = flow.nodes
    edges.value = flow.edges
    version.value = n
    selectedId.value = null
    problems.value = new Map()
    snapshot.value = JSON.stringify(definition.value)
  }

  async function open(id: string) {
    loading.value = true
    missing.value = false
    run.value = null
    try {
      workflow.value = await getWorkflow(id)
      versions.value = [...(await listVersions(id)).items].sort((a, b) => b.version - a.version)
      const latest = versions.value[0]
      setDefinition(latest?.definition ?? starterDefinition(), latest?.version ?? null)
      error.value = null
      void loadRuns()
    } catch (e) {
      if ((e as { status?: number }).status === 404) missing.value = true
      else error.value = (e as Error).message
    } finally {
      loading.value = false
    }
  }

  function pickVersion(n: number) {
    const v = versions.value.find((x) => x.version === n)
    if (v) setDefinition(v.definition, v.version)
    run.value = null
  }

  function addNode(kind: NodeType, position?: { x: number; y: number }) {
    const last = nodes.value[nodes.value.length - 1]
    const at = position ?? { x: (last?.position.x ?? 0) + 60, y: (last?.position.y ?? 0) + 90 }
    const node = newNode(
      kind,
      nodes.value.map((n) => n.id),
      at,
    )
    nodes.value = [...nodes.value, node]
    selectedId.value = node.id
    return node
  }

  /** Draw an edge; the reason it was refused (an i18n key) otherwise. */
  function connect(link: Link): string | null {
    const why = refuseLink(link, nodes.value, edges.value)
    if (why) return why
    edges.value = [...edges.value, edgeFor(link, nodes.value, edges.value)]
    return null
  }

  function removeNodes(ids: string[]) {
    const gone = new Set(ids)
    nodes.value = nodes.value.filter((n) => !gone.has(n.id))
    edges.value = edges.value.filter((e) => !gone.has(e.source) && !gone.has(e.target))
    if (selectedId.value && gone.has(selectedId.value)) selectedId.value = null
  }

  function removeEdges(ids: string[]) {
    const gone = new Set(ids)
    edges.value = edges.value.filter((e) => !gone.has(e.id))
  }

  function updateConfig(id: string, patch: Record<string, unknown>) {
    const node = nodes.value.find((n) => n.id === id)
    if (node?.data) node.data = { ...node.data, config: { ...node.data.config, ...patch } }
  }

  function removeConfigKeys(id: string, keys: string[]) {
    const node = nodes.value.find((n) => n.id === id)
    if (!node?.data) return
    const config = { ...node.data.config }
    for (const key of keys) delete config[key]
    node.data = { ...node.data, config }
  }

  function updateLabel(id: string, label: string) {
    const node = nodes.value.find((n) => n.id === id)
    if (node?.data) node.data = { ...node.data, label }
  }

  /** Save the graph as a new version; on a 422 the errors are laid on their nodes and false is returned. */
  async function save(message = ''): Promise<boolean> {
    if (!workflow.value) return false
    saving.value = true
    const body = definition.value
    try {
      const saved = await saveVersion(workflow.value.id, { definition: body, ...(message ? { message } : {}) })
      versions.value = [saved, ...versions.value.filter((v) => v.version !== saved.version)]
      workflow.value = { ...workflow.value, latest_version: saved.version }
      version.value = saved.version
      snapshot.value = JSON.stringify(definition.value)
      problems.value = new Map()
      return true
    } catch (e) {
      const problem = (e as { problem?: Problem | null }).problem ?? null
      problems.value = problem
        ? problemsByNode(problem, body, (e as Error).message)
        : new Map([['', [(e as Error).message]]])
      return false
    } finally {
      saving.value = false
    }
  }

  async function execute(input: Record<string, unknown>): Promise<WorkflowRun | null> {
    if (!workflow.value) return null
    running.value = true
    runError.value = null
    try {
      run.value = await runWorkflow(workflow.value.id, { input, version: version.value })
      runs.value = [run.value, ...runs.value.filter((r) => r.id !== run.value!.id)]
      return run.value
    } catch (e) {
      runError.value = (e as Error).message
      return null
    } finally {
      running.value = false
    }
  }

  async function loadRuns() {
    if (!workflow.value) return
    try {
      runs.value = (await listRuns(workflow.value.id)).items
    } catch {
      runs.value = []
    }
  }

  return {
    workflow,
    versions,
    version,
    inputs,
    nodes,
    edges,
    selectedId,
    selected,
    loading,
    error,
    missing,
    saving,
    problems,
    dirty,
    definition,
    running,
    run,
    runs,
    runError,
    trace,
    canWrite,
    open,
    setDefinition,
    pickVersion,
    addNode,
    connect,
    removeNodes,
    removeEdges,
    updateConfig,
    removeConfigKeys,
    updateLabel,
    save,
    execute,
    loadRuns,
  }
})
