import { useI18n } from 'vue-i18n'

export const MIN_PASSWORD = 12
/** A model's name, exactly as the API's registry/schemas.py MODEL_NAME_PATTERN: letters (any script) and
 * digits, then also `.`, `_` and `-`; no spaces, slashes or `@` (a name is how `/v1` and `name@ref` reach it). */
export const MODEL_NAME = /^[\p{L}\p{N}][\p{L}\p{M}\p{N}._-]*$/u
export const MODEL_NAME_MAX = 200
/** A username, as auth/schemas.py `Username`: 3-64 letters, digits, `.`, `_`, `-`, starting with a letter or digit. */
export const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$/
/** An e-mail address the API's EmailStr accepts: no spaces, one @, a domain with a dot. */
export const EMAIL = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/
/** Control characters the API refuses in names (core/text.py CONTROL). */
// eslint-disable-next-line no-control-regex
export const CONTROL = /[\x00-\x1f\x7f-\x9f\u2028\u2029]/

/** Field rules for Vuetify forms, with messages in the current language. The API validates again. */
export function useRules() {
  const { t } = useI18n()
  return {
    required: (v: unknown) => (typeof v === 'string' ? v.trim() !== '' : v != null) || t('rules.required'),
    password: (v: string) => (v ?? '').length >= MIN_PASSWORD || t('rules.password', { n: MIN_PASSWORD }),
    email: (v: string) => !v || EMAIL.test(v.trim()) || t('rules.email'),
    username: (v: string) => !v || USERNAME.test(v) || t('rules.username'),
    /** A team's or API key's name (auth/schemas.py `Label`): not blank, one line, at most `max` characters. */
    label:
      (max = 100) =>
      (v: string) => {
        const text = (v ?? '').trim()
        if (!text) return t('rules.required')
        if (CONTROL.test(text)) return t('rules.oneLine')
        return text.length <= max || t('rules.maxLength', { n: max })
      },
    maxLength: (max: number) => (v: string) => (v ?? '').trim().length <= max || t('rules.maxLength', { n: max }),
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
