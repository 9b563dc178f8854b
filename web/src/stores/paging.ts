import { ref, shallowRef } from 'vue'
import type { Page } from '@/api/client'

export const PAGE_SIZE = 50

/**
 * A cursor-paginated list for a store: `load()` fetches the first page, `load(true)` appends the next.
 * A reload started while another is in flight wins; the older answer is dropped.
 */
export function useCursorList<T>(fetchPage: (cursor: string | undefined) => Promise<Page<T>>) {
  const items = shallowRef<T[]>([])
  const nextCursor = ref<string | null>(null)
  const loading = ref(false)
  let generation = 0

  async function load(more = false) {
    if (more && !nextCursor.value) return
    const mine = more ? generation : ++generation
    loading.value = true
    try {
      const page = await fetchPage(more ? (nextCursor.value ?? undefined) : undefined)
      if (mine !== generation) return
      items.value = more ? [...items.value, ...page.items] : page.items
      nextCursor.value = page.next_cursor ?? null
    } finally {
      if (mine === generation) loading.value = false
    }
  }

  /** Swap one loaded item for its updated version (after an edit), keeping its place. */
  function replace(updated: T, same: (a: T, b: T) => boolean) {
    items.value = items.value.map((item) => (same(item, updated) ? updated : item))
  }

  return { items, nextCursor, loading, load, replace }
}
