import { onBeforeUnmount, watchEffect } from 'vue'
import { i18n } from '@/i18n'

/** The browser tab names the page ("Models · axops"), following the language switch and the loaded name. */
export function usePageTitle(title: () => string | null | undefined) {
  const stop = watchEffect(() => {
    const name = title()
    const app = i18n.global.t('app.title')
    document.title = name ? `${name} · ${app}` : app
  })
  onBeforeUnmount(stop)
}
