import { i18n } from '@/i18n'

/** A timestamp in the reader's locale and time zone. */
export function formatTime(iso: string): string {
  const locale = i18n.global.locale.value === 'ko' ? 'ko-KR' : 'en-GB'
  return new Date(iso).toLocaleString(locale, { dateStyle: 'medium', timeStyle: 'short' })
}

/** 1234567 → "1.23M"; bytes get a unit suffix ("1.20 GB"). */
export function human(n: number | null | undefined, unit = ''): string {
  if (n === null || n === undefined) return '—'
  for (const [step, suffix] of [
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'K'],
  ] as const) {
    if (n >= step) return `${(n / step).toFixed(2)}${unit ? ` ${suffix}${unit}` : suffix}`
  }
  return `${n}${unit ? ` ${unit}` : ''}`
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

/**
 * Text made safe to put in HTML. Every chart tooltip formatter function (ECharts inserts what it returns
 * as HTML) passes each name, key or value through this: they are user-written.
 */
export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => HTML_ESCAPES[c])
}
