import { createI18n } from 'vue-i18n'
import { en as vuetifyEn, ko as vuetifyKo } from 'vuetify/locale'
import en from './en'
import ko from './ko'

export type Locale = 'ko' | 'en'
export const LOCALES: Locale[] = ['ko', 'en']
export const LOCALE_KEY = 'axops.locale'

function initialLocale(): Locale {
  const saved = typeof localStorage !== 'undefined' ? localStorage.getItem(LOCALE_KEY) : null
  return saved === 'en' || saved === 'ko' ? saved : 'ko'
}

/** Our messages plus Vuetify's own (table footers, "no data", ...) under `$vuetify`, so both follow the switch. */
export const i18n = createI18n({
  legacy: false,
  locale: initialLocale(),
  fallbackLocale: 'en',
  messages: { ko: { ...ko, $vuetify: vuetifyKo }, en: { ...en, $vuetify: vuetifyEn } },
})

export function setLocale(locale: Locale) {
  i18n.global.locale.value = locale
  localStorage.setItem(LOCALE_KEY, locale)
  document.documentElement.lang = locale
}
