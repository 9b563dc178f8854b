import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { api, unwrap, useTokenSource, type Schemas, type UserInfo } from '@/api/client'

export const REFRESH_KEY = 'axops.refresh'

function inTurn<T>(work: () => Promise<T>): Promise<T> {
  if (typeof navigator === 'undefined' || !navigator.locks) return work()
  // request() resolves to the callback's result, awaited; its typing doesn't unwrap the promise.
  return navigator.locks.request(REFRESH_KEY, work) as unknown as Promise<T>
}

export const useAuthStore = defineStore('auth', () => {
  const access = ref<string | null>(null)
  const user = ref<UserInfo | null>(null)
  /** Counts sessions that ended under the user (refresh refused after a 401); the app sends them to login. */
  const expirations = ref(0)
  let refreshing: Promise<boolean> | null = null

  const permissions = computed(() => new Set(user.value?.permissions ?? []))
  const isAuthenticated = computed(() => user.value !== null)

  function can(permission?: string): boolean {
    return !permission || permissions.value.has(permission)
  }

  function accept(pair: Schemas['TokenPair']) {
    access.value = pair.access_token
    localStorage.setItem(REFRESH_KEY, pair.refresh_token)
    user.value = pair.user
  }

  function clear() {
    access.value = null
    user.value = null
    localStorage.removeItem(REFRESH_KEY)
  }

  async function login(username: string, password: string) {
    accept(unwrap(await api.POST('/api/auth/login', { body: { username, password } })))
  }

  /**
   * Exchange the stored refresh token for a new pair; concurrent callers share one exchange.
   * Tokens rotate and tabs share localStorage, so tabs take turns (Web Locks) and each reads the
   * token inside its turn: a tab never spends a token another tab has already exchanged.
   */
  function refresh(): Promise<boolean> {
    if (!localStorage.getItem(REFRESH_KEY)) return Promise.resolve(false)
    refreshing ??= inTurn(exchange).finally(() => (refreshing = null))
    return refreshing
  }

  async function exchange(): Promise<boolean> {
    const token = localStorage.getItem(REFRESH_KEY)
    if (!token) return false
    try {
      const result = await api.POST('/api/auth/refresh', { body: { refresh_token: token } })
      if (!result.data) {
        clear()
        return false
      }
      accept(result.data)
      return true
    } catch {
      return false
    }
  }

  async function loadUser() {
    user.value = unwrap(await api.GET('/api/user/info'))
  }

  async function logout() {
    const token = localStorage.getItem(REFRESH_KEY)
    try {
      if (access.value) await api.POST('/api/auth/logout', { body: { refresh_token: token } })
    } finally {
      clear()
    }
  }

  /** On page load: resume the session from the refresh token, if there is one. */
  async function restore(): Promise<boolean> {
    if (user.value) return true
    return refresh()
  }

  function expired() {
    clear()
    expirations.value++
  }

  useTokenSource({ access: () => access.value, refresh, expired })

  return { access, user, permissions, isAuthenticated, expirations, can, login, logout, refresh, restore, loadUser, clear }
})
