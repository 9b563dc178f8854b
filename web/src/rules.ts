import { useI18n } from 'vue-i18n'

export const MIN_PASSWORD = 12

/** Field rules for Vuetify forms, with messages in the current language. The API validates again. */
export function useRules() {
  const { t } = useI18n()
  return {
    required: (v: unknown) => (typeof v === 'string' ? v.trim() !== '' : v != null) || t('rules.required'),
    password: (v: string) => (v ?? '').length >= MIN_PASSWORD || t('rules.password', { n: MIN_PASSWORD }),
    email: (v: string) => !v || /^[^\s@]+@[^\s@]+$/.test(v.trim()) || t('rules.email'),
    positiveInt: (v: string | number | null) =>
      v === '' || v == null || (Number.isInteger(Number(v)) && Number(v) > 0) || t('rules.positiveInt'),
  }
}
