import { defineStore } from 'pinia'
import { api, unwrap, type Schemas } from '@/api/client'
import { PAGE_SIZE, useCursorList } from './paging'

export type ApiKey = Schemas['ApiKeyOut']
export type CreatedApiKey = Schemas['ApiKeyCreated']

/** The caller's own API keys (needs apikeys:write). The secret is returned once by create, never kept here. */
export const useApiKeysStore = defineStore('apikeys', () => {
  const list = useCursorList<ApiKey>(async (cursor) =>
    unwrap(await api.GET('/api/apikey', { params: { query: { limit: PAGE_SIZE, cursor } } })),
  )

  async function create(body: Schemas['ApiKeyCreate']): Promise<CreatedApiKey> {
    const created = unwrap(await api.POST('/api/apikey/create', { body }))
    await list.load()
    return created
  }

  async function revoke(id: string): Promise<ApiKey> {
    const key = unwrap(await api.POST('/api/apikey/{key_id}/revoke', { params: { path: { key_id: id } } }))
    list.replace(key, (a, b) => a.id === b.id)
    return key
  }

  /** Every active key of the caller at once (a two-factor step-up may be asked for); how many were revoked. */
  async function revokeAll(): Promise<number> {
    const { revoked } = unwrap(await api.POST('/api/apikey/revoke-all', { body: {} }))
    await list.load()
    return revoked
  }

  return { ...list, create, revoke, revokeAll }
})
