import { useI18n } from 'vue-i18n'

export const MIN_PASSWORD = 12
/** A model's name, exactly as the API's registry/schemas.py MODEL_NAME_PATTERN: letters (any script) and
 * digits, then also `.`, `_` and `-`; no spaces, slashes or `@` (a name is how `/v1` and `name@ref` reach it). */
export const MODEL_NAME = /^[\p{L}\p{N}][\p{L}\p{M}\p{N}._-]*$/u
export const MODEL_NAME_MAX = 200

/** Field rules for Vuetify forms, with messages in the current language. The API validates again. */
export function useRules() {
  const { t } = useI18n()
  return {
    required: (v: unknown) => (typeof v === 'string' ? v.trim() !== '' : v != null) || t('rules.required'),
    password: (v: string) => (v ?? '').length >= MIN_PASSWORD || t('rules.password', { n: MIN_PASSWORD }),
    email: (v: string) => !v || /^[^\s@]+@[^\s@]+$/.test(v.trim()) || t('rules.email'),
    modelName: (v: string) =>
      !v || (MODEL_NAME.test(v) && v.length <= MODEL_NAME_MAX) || t('rules.modelName', { n: MODEL_NAME_MAX }),
    /** A number within [min, max] (either end optional); empty passes (pair it with `required`). */
    range: (min?: number, max?: number) => (v: string | number | null) => {
      if (v === '' || v == null) return true
      const n = Number(v)
      if (!Number.isFinite(n)) return t('rules.number')
      if (min !== undefined && n < min) return t('rules.min', { n: min })
      if (max !== undefined && n > max) return t('rules.max', { n: max })
      return true
    },
    positiveInt: (v: string | number | null) =>
      v === '' || v == null || (Number.isInteger(Number(v)) && Number(v) > 0) || t('rules.positiveInt'),
  }
}
