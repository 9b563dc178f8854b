import { afterEach, describe, expect, it, vi } from 'vitest'
import { mount } from '@vue/test-utils'
import { createVuetify } from 'vuetify'
import * as components from 'vuetify/components'
import * as directives from 'vuetify/directives'
import { createMemoryHistory, createRouter } from 'vue-router'
import App from '@/App.vue'
import { i18n, setLocale } from '@/i18n'
import { mockApi, settle, signIn } from './helpers'

async function mountShell(pending: number) {
  const calls = mockApi({ 'GET /api/governance/approvals/inbox-count': () => ({ pending }) })
  const pinia = signIn(['models:read'])
  const router = createRouter({
    history: createMemoryHistory(),
    routes: [{ path: '/:p(.*)*', component: { template: '<div />' } }],
  })
  await router.push('/')
  window.innerWidth = 1440
  const wrapper = mount(
    { template: '<v-layout><App /></v-layout>', components: { App } },
    { global: { plugins: [pinia, router, i18n, createVuetify({ components, directives })] }, attachTo: document.body },
  )
  await settle()
  return { wrapper, router, calls }
}

afterEach(() => vi.restoreAllMocks())

describe('approvals inbox badge', () => {
  it('shows how many requests wait for the reader on the Governance item, read again on navigation', async () => {
    setLocale('ko')
    const { wrapper, router, calls } = await mountShell(3)
    const badge = document.querySelector('[data-testid="nav-governance"] [data-testid="governance-inbox-badge"]')
    expect(badge?.textContent).toContain('3')
    expect(badge?.querySelector('[aria-label]')?.getAttribute('aria-label')).toBe('결정을 기다리는 요청 3건')
    const before = calls.length
    await router.push('/models')
    await settle()
    expect(calls.length).toBe(before + 1)
    wrapper.unmount()
  })

  it('shows nothing when no request waits', async () => {
    const { wrapper } = await mountShell(0)
    expect(document.querySelector('[data-testid="governance-inbox-badge"]')).toBeNull()
    wrapper.unmount()
  })
})
