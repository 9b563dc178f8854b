import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { api, apiError, unwrap, type ApiError, type Schemas } from '@/api/client'

export type Template = Schemas['TemplateOut']
export type TemplateInstall = Schemas['TemplateInstall']
export type TemplateInstallOut = Schemas['TemplateInstallOut']
export type TemplatePublish = Schemas['TemplatePublish']

/** A template's name and description in the reader's language (built-ins carry both; shared ones their own). */
export function localized(t: Template, locale: string): { name: string; description: string } {
  const text = t.translations?.[locale] ?? t.translations?.en
  return text ? { name: text.name, description: text.description ?? '' } : { name: t.name, description: t.description }
}

/** Whether a template matches the search text (name or description in either language, tools) and the tag. */
export function matches(t: Template, q: string, tag: string | null): boolean {
  if (tag && !t.tags.includes(tag)) return false
  const needle = q.trim().toLowerCase()
  if (!needle) return true
  const texts = [t.name, t.description, ...Object.values(t.translations ?? {}).flatMap((x) => [x.name, x.description])]
  return [...texts, ...t.tools.map((x) => x.name)].some((s) => (s ?? '').toLowerCase().includes(needle))
}

/** A refused install; a name clash carries a free name to offer (`suggestion`). */
export type InstallError = ApiError & { suggestion?: string }

export const allTags = (items: Template[]) => [...new Set(items.flatMap((t) => t.tags))].sort()

export const useTemplatesStore = defineStore('templates', () => {
  const items = ref<Template[]>([])
  const loading = ref(false)
  const error = ref<string | null>(null)
  const loaded = ref(false)
  const tags = computed(() => allTags(items.value))

  async function load() {
    loading.value = true
    try {
      items.value = unwrap(await api.GET('/api/agent/templates')).items
      error.value = null
      loaded.value = true
    } catch (e) {
      error.value = (e as Error).message
    } finally {
      loading.value = false
    }
  }

  async function install(id: string, body: TemplateInstall): Promise<TemplateInstallOut> {
    const result = await api.POST('/api/agent/templates/{template_id}/install', {
      params: { path: { template_id: id } },
      body,
    })
    if (result.error !== undefined || !result.response.ok) {
      const error = apiError(result.error, result.response.status) as InstallError
      const suggestion = (result.error as Record<string, unknown> | undefined)?.suggestion
      if (typeof suggestion === 'string') error.suggestion = suggestion
      throw error
    }
    const out = result.data as TemplateInstallOut
    const item = items.value.find((t) => t.id === id)
    if (item) item.install_count = (item.install_count ?? 0) + 1
    return out
  }

  async function publish(body: TemplatePublish): Promise<Template> {
    const created = unwrap(await api.POST('/api/agent/templates', { body }))
    items.value = [...items.value.filter((t) => t.builtin), created, ...items.value.filter((t) => !t.builtin)]
    return created
  }

  async function remove(id: string) {
    unwrap(await api.DELETE('/api/agent/templates/{template_id}', { params: { path: { template_id: id } } }))
    items.value = items.value.filter((t) => t.id !== id)
  }

  return { items, loading, error, loaded, tags, load, install, publish, remove }
})
