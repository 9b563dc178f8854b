import { describe, expect, it } from 'vitest'
import { mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import { createVuetify } from 'vuetify'
import * as components from 'vuetify/components'
import * as directives from 'vuetify/directives'
import { createMemoryHistory, createRouter } from 'vue-router'
import App from '@/App.vue'
import { i18n, LOCALE_KEY, setLocale } from '@/i18n'
import { useAuthStore } from '@/stores/auth'

globalThis.ResizeObserver ??= class {
  observe() {}
  unobserve() {}
  disconnect() {}
} as unknown as typeof ResizeObserver

async function mountShell(role: string, permissions: string[]) {
  const pinia = createPinia()
  setActivePinia(pinia)
  const auth = useAuthStore()
  auth.user = {
    id: '1',
    username: 'someone',
    display_name: '',
    email: null,
    role: role as 'viewer',
    is_active: true,
    teams: [],
    permissions,
    auth: 'jwt',
    created_at: '2026-01-01T00:00:00Z',
  }
  const router = createRouter({
    history: createMemoryHistory(),
    routes: [{ path: '/:p(.*)*', component: { template: '<div />' } }],
  })
  await router.push('/')
  const wrapper = mount(
    { template: '<v-layout><App /></v-layout>', components: { App } },
    {
      global: { plugins: [pinia, router, i18n, createVuetify({ components, directives })] },
      attachTo: document.body,
    },
  )
  await router.isReady()
  return wrapper
}

async function navFor(role: string, permissions: string[]) {
  const wrapper = await mountShell(role, permissions)
  const ids = [...document.querySelectorAll('[data-testid^="nav-"]')].map((el) => el.getAttribute('data-testid'))
  wrapper.unmount()
  return ids
}

describe('navigation follows the role', () => {
  it('shows a Viewer no admin or key pages', async () => {
    expect(await navFor('viewer', ['models:read'])).toEqual(['nav-home', 'nav-models', 'nav-governance'])
  })

  it('shows an Admin everything', async () => {
    const all = ['apikeys:write', 'users:admin', 'teams:admin', 'audit:read']
    expect(await navFor('admin', all)).toEqual([
      'nav-home',
      'nav-apikeys',
      'nav-users',
      'nav-teams',
      'nav-governance',
      'nav-audit',
    ])
  })

  it('groups the pages under section headings, showing only sections with a page the role may open', async () => {
    setLocale('en')
    window.innerWidth = 1440 // a desktop: jsdom's 1024 px gets the icon rail, which shows no headings
    const wrapper = await mountShell('developer', ['models:read', 'training:read', 'gateway:invoke'])
    const headings = [...document.querySelectorAll('.v-list-subheader')].map((el) => el.textContent?.trim())
    expect(headings).toEqual(['Build', 'Serve', 'Operate', 'Admin']) // Governance is everyone's: own requests, policies that apply
    wrapper.unmount()
    window.innerWidth = 1024
    setLocale('ko')
  })

  it('switches the language from the app bar and remembers it', async () => {
    setLocale('ko')
    const wrapper = await mountShell('developer', ['apikeys:write'])
    const nav = () => document.querySelector('[data-testid="nav-apikeys"]')?.textContent
    expect(nav()).toContain('API 키')
    await wrapper.get('[data-testid="locale-switch"]').trigger('click')
    expect(nav()).toContain('API keys')
    expect(localStorage.getItem(LOCALE_KEY)).toBe('en')
    expect(document.documentElement.lang).toBe('en')
    await wrapper.get('[data-testid="locale-switch"]').trigger('click')
    expect(nav()).toContain('API 키')
    wrapper.unmount()
  })
})
