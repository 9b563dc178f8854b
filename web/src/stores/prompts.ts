import { defineStore } from 'pinia'
import { computed, ref, shallowRef } from 'vue'
import { listModelStatus } from '@/api/gateway'
import {
  getPrompt,
  listVersions,
  type Binding,
  type Prompt,
  type PromptKind,
  type PromptVersion,
  type Role,
  type Template,
  type VersionIn,
} from '@/api/prompts'
import { useAuthStore } from '@/stores/auth'
import { rowOf, toVariables, type VariableRow } from '@/views/prompts/variables'

export interface DraftMessage {
  id: number
  role: Role
  content: string
}

/** What the editor holds before it is saved as a version (the Test panel can run it as it is). */
export interface Draft {
  /** The version it was started from (null: a prompt with no version yet). */
  base: number | null
  kind: PromptKind
  text: string
  messages: DraftMessage[]
  rows: VariableRow[]
  route: string | null
  allowedRoutes: string[]
  temperature: number | string | null
  topP: number | string | null
  maxTokens: number | string | null
  message: string
  label: string | null
}

let nextId = 1
const message = (role: Role, content: string): DraftMessage => ({ id: nextId++, role, content })

/** A draft of `version`, or of a new chat prompt with a system and a user message. */
export function draftOf(version: PromptVersion | null): Draft {
  const template = version?.template
  const p = version?.binding.parameters ?? {}
  return {
    base: version?.version ?? null,
    kind: version?.kind ?? 'chat',
    text: typeof template === 'string' ? template : '',
    messages: Array.isArray(template)
      ? template.map((m) => message(m.role, m.content))
      : [message('system', ''), message('user', '')],
    rows: (version?.variables ?? []).map(rowOf),
    route: version?.binding.route ?? null,
    allowedRoutes: [...(version?.binding.allowed_routes ?? [])],
    temperature: p.temperature ?? null,
    topP: p.top_p ?? null,
    maxTokens: p.max_tokens ?? null,
    message: '',
    label: null,
  }
}

export const newMessage = message

const num = (v: number | string | null) => (v === null || v === '' || v === undefined ? null : Number(v))

export function draftTemplate(d: Draft): Template {
  return d.kind === 'text' ? d.text : d.messages.map((m) => ({ role: m.role, content: m.content }))
}

export function draftBinding(d: Draft): Binding {
  const parameters: Binding['parameters'] = {}
  if (num(d.temperature) !== null) parameters.temperature = num(d.temperature)
  if (num(d.topP) !== null) parameters.top_p = num(d.topP)
  if (num(d.maxTokens) !== null) parameters.max_tokens = num(d.maxTokens)
  return { route: d.route || null, allowed_routes: d.allowedRoutes, parameters }
}

/** The body of "Save as new version". */
export function draftBody(d: Draft): VersionIn {
  return {
    kind: d.kind,
    template: draftTemplate(d),
    variables: toVariables(d.rows),
    binding: draftBinding(d),
    message: d.message.trim(),
    ...(d.label ? { labels: [d.label] } : {}),
  }
}

const stamp = (d: Draft) => JSON.stringify([d.kind, draftTemplate(d), d.rows, draftBinding(d)])

/** The prompt page: the prompt, its versions (newest first), the editor's draft, and the routes it may bind. */
export const usePromptStore = defineStore('prompt', () => {
  const auth = useAuthStore()
  const prompt = ref<Prompt | null>(null)
  const versions = shallowRef<PromptVersion[]>([])
  const loading = ref(false)
  const error = ref<string | null>(null)
  const missing = ref(false)
  const draft = ref<Draft>(draftOf(null))
  /** What the draft was when it was started: it has unsaved changes while it differs. */
  const snapshot = ref(stamp(draft.value))
  const dirty = computed(() => stamp(draft.value) !== snapshot.value)

  const routes = ref<string[]>([])
  const currency = ref('')
  const routesError = ref<string | null>(null)

  const latest = computed(() => versions.value[0] ?? null)
  const canWrite = computed(
    () =>
      auth.can('prompts:write') &&
      !!prompt.value &&
      (auth.user?.role === 'admin' || !!auth.user?.teams.some((team) => team.id === prompt.value?.team_id)),
  )

  async function load(name: string) {
    loading.value = true
    missing.value = false
    try {
      prompt.value = await getPrompt(name)
      versions.value = (await listVersions(name)).items
      error.value = null
    } catch (e) {
      if ((e as { status?: number }).status === 404) missing.value = true
      else error.value = (e as Error).message
    } finally {
      loading.value = false
    }
  }

  /** Open `name` afresh: its data, and a draft of its latest version. */
  async function open(name: string) {
    if (prompt.value?.name !== name) {
      prompt.value = null
      versions.value = []
    }
    await load(name)
    startDraft(latest.value)
  }

  function startDraft(version: PromptVersion | null) {
    draft.value = draftOf(version)
    snapshot.value = stamp(draft.value)
  }

  async function loadRoutes() {
    routesError.value = null
    try {
      const answer = await listModelStatus()
      routes.value = answer.models.map((m) => m.name)
      currency.value = answer.currency
    } catch (e) {
      routesError.value = (e as Error).message
    }
  }

  return {
    prompt,
    versions,
    loading,
    error,
    missing,
    draft,
    dirty,
    routes,
    currency,
    routesError,
    latest,
    canWrite,
    load,
    open,
    startDraft,
    loadRoutes,
  }
})
