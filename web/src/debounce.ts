import { ref, watch, type Ref } from 'vue'

/** A copy of `source` that follows it once it has been still for `ms` (search as you type, one request per pause). */
export function useDebounced<T>(source: Ref<T>, ms = 300): Ref<T> {
  const settled = ref(source.value) as Ref<T>
  let timer: ReturnType<typeof setTimeout> | undefined
  watch(source, (value) => {
    clearTimeout(timer)
    timer = setTimeout(() => (settled.value = value), ms)
  })
  return settled
}
