import { computed, onBeforeUnmount, ref, watch } from 'vue'
import { useRoute, useRouter } from 'vue-router'

/** The time ranges the dashboards offer (seconds back from now), and the auto-refresh intervals (seconds, 0 = off). */
export const RANGES = { '1h': 3600, '6h': 6 * 3600, '24h': 86400, '7d': 7 * 86400, '30d': 30 * 86400 } as const
export type RangeKey = keyof typeof RANGES
export const REFRESH = [0, 15, 30, 60, 300] as const

const isRange = (value: unknown): value is RangeKey => typeof value === 'string' && value in RANGES

/**
 * A dashboard's time range and auto-refresh, kept in the address (`?range=24h&refresh=30`) so a link shows the same
 * view. `from`/`to` are unix seconds, recomputed on every `tick` (each refresh, and when the range changes): watch
 * `tick` (or `window`) to reload.
 */
export function useTimeRange(defaultRange: RangeKey = '24h', defaultRefresh = 60) {
  const route = useRoute()
  const router = useRouter()
  const range = ref<RangeKey>(isRange(route.query.range) ? route.query.range : defaultRange)
  const wanted = Number(route.query.refresh)
  const refresh = ref<number>((REFRESH as readonly number[]).includes(wanted) ? wanted : defaultRefresh)
  const tick = ref(0)
  const to = ref(Math.floor(Date.now() / 1000))
  const from = computed(() => to.value - RANGES[range.value])
  const window = computed(() => ({ from: from.value, to: to.value, tick: tick.value }))

  function reload() {
    to.value = Math.floor(Date.now() / 1000)
    tick.value += 1
  }

  let timer: ReturnType<typeof setInterval> | undefined
  function schedule() {
    if (timer) clearInterval(timer)
    timer = refresh.value > 0 ? setInterval(reload, refresh.value * 1000) : undefined
  }
  schedule()
  onBeforeUnmount(() => timer && clearInterval(timer))

  watch([range, refresh], ([r, s]) => {
    schedule()
    reload()
    if (route.query.range !== r || route.query.refresh !== String(s))
      void router.replace({ query: { ...route.query, range: r, refresh: String(s) } })
  })
  return { range, refresh, from, to, tick, window, reload }
}

/** A step's start as people read it, in their time zone; with the date when the range is longer than a day. */
export function timeLabel(seconds: number, span: number, locale: string): string {
  const lang = locale === 'ko' ? 'ko-KR' : 'en-GB'
  const d = new Date(seconds * 1000)
  return span > 86400
    ? d.toLocaleString(lang, { month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' })
    : d.toLocaleTimeString(lang, { hour: '2-digit', minute: '2-digit' })
}
