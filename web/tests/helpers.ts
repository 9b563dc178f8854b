import { vi } from 'vitest'
import { mount, flushPromises } from '@vue/test-utils'
import type { Component } from 'vue'
import { createPinia, setActivePinia, type Pinia } from 'pinia'
import { createVuetify } from 'vuetify'
import * as components from 'vuetify/components'
import * as directives from 'vuetify/directives'
import { createMemoryHistory, createRouter } from 'vue-router'
import { i18n } from '@/i18n'
import type { UserInfo } from '@/api/client'
import { useAuthStore } from '@/stores/auth'

globalThis.ResizeObserver ??= class {
  observe() {}
  unobserve() {}
  disconnect() {}
} as unknown as typeof ResizeObserver
// jsdom has no visual viewport; Vuetify's overlays (dialogs, menus) position against it.
globalThis.visualViewport ??= Object.assign(new EventTarget(), {
  width: 1280,
  height: 800,
  offsetLeft: 0,
  offsetTop: 0,
  pageLeft: 0,
  pageTop: 0,
  scale: 1,
  onresize: null,
  onscroll: null,
}) as unknown as VisualViewport

export interface Call {
  method: string
  path: string
  query: URLSearchParams
  body: unknown
  auth: string | null
}

type Handler = (call: Call) => unknown | Response

export function json(body: unknown, status = 200): Response {
  return new Response(status === 204 ? null : JSON.stringify(body), {
    status,
    headers: { 'content-type': status >= 400 ? 'application/problem+json' : 'application/json' },
  })
}

/** Stub fetch with handlers keyed "METHOD /path"; returns the calls seen. Unknown routes answer 404. */
export function mockApi(routes: Record<string, Handler>): Call[] {
  const calls: Call[] = []
  vi.spyOn(globalThis, 'fetch').mockImplementation(async (input) => {
    const request = input as Request
    const url = new URL(request.url)
    const text = await request.clone().text()
    const call = {
      method: request.method,
      path: url.pathname,
      query: url.searchParams,
      body: text ? JSON.parse(text) : undefined,
      auth: request.headers.get('Authorization'),
    }
    calls.push(call)
    const handler = routes[`${call.method} ${call.path}`]
    if (!handler) return json({ title: 'Not Found', status: 404, detail: `no route ${call.method} ${call.path}` }, 404)
    const result = handler(call)
    return result instanceof Response ? result : json(result)
  })
  return calls
}

export function freshPinia(): Pinia {
  const pinia = createPinia()
  setActivePinia(pinia)
  return pinia
}

/**
 * Mount a view with Vuetify, i18n, a memory router (page headers read the route) and the given pinia,
 * attached to the document (dialogs teleport there).
 */
export async function mountView(view: Component, pinia: Pinia) {
  const router = createRouter({
    history: createMemoryHistory(),
    routes: [{ path: '/:rest(.*)*', component: { template: '<div />' } }],
  })
  await router.push('/')
  const wrapper = mount(
    { template: '<v-app><v-main><View /></v-main></v-app>', components: { View: view } },
    {
      global: { plugins: [pinia, i18n, router, createVuetify({ components, directives })] },
      attachTo: document.body,
    },
  )
  await flushPromises()
  return wrapper
}

export const byTestId = (id: string) => document.querySelector<HTMLElement>(`[data-testid="${id}"]`)

export async function settle() {
  await flushPromises()
  await new Promise((r) => setTimeout(r, 0))
  await flushPromises()
}

/** A fresh pinia with a signed-in user (a developer of team "research" unless `user` says otherwise). */
export function signIn(permissions: string[], user: Partial<UserInfo> = {}): Pinia {
  const pinia = freshPinia()
  const auth = useAuthStore()
  auth.access = 'token'
  auth.user = {
    id: 'me',
    username: 'dev',
    display_name: '',
    email: null,
    role: 'developer',
    is_active: true,
    teams: [{ id: 't1', name: 'research' }],
    permissions,
    auth: 'jwt',
    created_at: '2026-01-01T00:00:00Z',
    ...user,
  }
  return pinia
}
