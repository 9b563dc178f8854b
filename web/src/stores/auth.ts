import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { api, unwrap, useTokenSource, type Schemas, type UserInfo } from '@/api/client'
import { requestJson } from '@/api/http'

/** The Web Lock tabs take turns under to refresh (the refresh cookie rotates and tabs share it). */
export const REFRESH_LOCK = 'axops.refresh'
const LEGACY_REFRESH_KEY = 'axops.refresh'

function inTurn<T>(work: () => Promise<T>): Promise<T> {
  if (typeof navigator === 'undefined' || !navigator.locks) return work()
  // request() resolves to the callback's result, awaited; its typing doesn't unwrap the promise.
  return navigator.locks.request(REFRESH_LOCK, work) as unknown as Promise<T>
}

/**
 * The session: the access token lives in memory only; the refresh token is an httpOnly cookie that
 * scripts never see (the server sets, rotates and clears it). A page load resumes with /api/auth/refresh.
 */
export const useAuthStore = defineStore('auth', () => {
  const access = ref<string | null>(null)
  const user = ref<UserInfo | null>(null)
  /** Counts sessions that ended under the user (refresh refused after a 401); the app sends them to login. */
  const expirations = ref(0)
  let refreshing: Promise<boolean> | null = null
  // Versions before the cookie kept the refresh token in localStorage: drop any left behind.
  if (typeof localStorage !== 'undefined') localStorage.removeItem(LEGACY_REFRESH_KEY)

  const permissions = computed(() => new Set(user.value?.permissions ?? []))
  const isAuthenticated = computed(() => user.value !== null)

  function can(permission?: string): boolean {
    return !permission || permissions.value.has(permission)
  }

  function accept(pair: Schemas['TokenPair']) {
    access.value = pair.access_token
    user.value = pair.user
  }

  function clear() {
    access.value = null
    user.value = null
  }

  /** Signs in; or, when the user has two-factor on, returns the challenge to send with a code to `loginMfa`. */
  async function login(username: string, password: string): Promise<string | null> {
    const answer = unwrap(await api.POST('/api/auth/login', { body: { username, password } })) as
      Schemas['TokenPair'] | { mfa_required: true; challenge: string }
    if ('mfa_required' in answer) return answer.challenge
    accept(answer)
    return null
  }

  async function loginMfa(challenge: string, code: string) {
    accept(await requestJson<Schemas['TokenPair']>('POST', '/api/auth/login/mfa', { challenge, code }))
  }

  /**
   * A new access token from the refresh cookie; concurrent callers share one exchange, and tabs take
   * turns (Web Locks) so that each sends the cookie as the previous exchange left it.
   */
  function refresh(): Promise<boolean> {
    refreshing ??= inTurn(exchange).finally(() => (refreshing = null))
    return refreshing
  }

  async function exchange(): Promise<boolean> {
    try {
      const result = await api.POST('/api/auth/refresh')
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

  /** Ends the session on the server (by the access token and the cookie) and clears the cookie. */
  async function logout() {
    try {
      await api.POST('/api/auth/logout')
    } finally {
      clear()
    }
  }

  /** On page load: resume the session from the refresh cookie, if there is one. */
  async function restore(): Promise<boolean> {
    if (user.value) return true
    return refresh()
  }

  function expired() {
    clear()
    expirations.value++
  }

  useTokenSource({ access: () => access.value, refresh, expired })

  return {
    access,
    user,
    permissions,
    isAuthenticated,
    expirations,
    can,
    login,
    loginMfa,
    logout,
    refresh,
    restore,
    loadUser,
    clear,
  }
})
