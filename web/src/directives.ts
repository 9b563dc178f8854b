import type { Directive } from 'vue'

function tag(el: HTMLElement, testid: string) {
  const input = el.matches('input') ? el : el.querySelector('input')
  if (input && input.getAttribute('data-testid') !== testid) input.setAttribute('data-testid', testid)
}

/**
 * `v-input-testid="'login-username'"` puts the test id on a Vuetify field's own <input>
 * (Vuetify sends data-* attributes to the wrapper), so browser tests can fill and read it directly.
 */
export const vInputTestid: Directive<HTMLElement, string> = {
  mounted: (el, { value }) => tag(el, value),
  updated: (el, { value }) => tag(el, value),
}
