import { ref, watch, type Ref } from 'vue'
import { problemDetail } from '@/api/client'

/**
 * A dashboard's one read, reloaded on every tick of `useTimeRange()`'s window. A slower answer to an older
 * window never replaces a newer one; a reload keeps the last figures on screen until the new ones arrive.
 */
export function useDashboard<T>(
  load: (from: number, to: number) => Promise<T>,
  window: Ref<{ from: number; to: number; tick: number }>,
) {
  const data = ref<T | null>(null) as Ref<T | null>
  const loading = ref(false)
  const error = ref('')
  let seq = 0

  async function reload() {
    const mine = ++seq
    loading.value = true
    try {
      const answer = await load(window.value.from, window.value.to)
      if (mine !== seq) return
      data.value = answer
      error.value = ''
    } catch (e) {
      if (mine === seq) error.value = problemDetail(e)
    } finally {
      if (mine === seq) loading.value = false
    }
  }
  watch(window, reload, { immediate: true })
  return { data, loading, error, reload }
}
